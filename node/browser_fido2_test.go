package node

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TestBrowserASecurityKeySetsANewPassword: on the Recovery page alice adds
// a FIDO2 security key (Chromium's virtual authenticator, with the PRF
// extension); she forgets her password, and on the unlock page's recovery
// page the key sets a new one; the old password no longer opens the
// vault. WebAuthn wants a host name, so the page is opened at localhost.
func TestBrowserASecurityKeySetsANewPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole mesh and a browser: not in -short")
	}
	ctx := context.Background()
	b := startBrowser(t)
	u := startUIMesh(t)
	b.base = strings.Replace(u.base, "127.0.0.1", "localhost", 1)
	b.do("add a virtual security key", func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb,
				HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, HasPrf: true, AutomaticPresenceSimulation: true}})
		return chromedp.Void{}, err
	})
	u.lockAlice(t)
	b.open("/unlock", "#password")
	b.do("unlock", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.landOn("/share")

	b.open("/recovery", "#fido2-add")
	b.do("add a security key", chromedp.Click(chromedp.ID("fido2-add")))
	b.waitText("main", "recovery method fido2 enabled")
	b.waitText("main", "Your security key")

	u.lockAlice(t)
	b.open("/unlock", "#password")
	b.open("/recover", "#new-password")
	b.do("set a new password with the key", chromedp.SendKeys(chromedp.ID("new-password"), "a new password from the key"),
		chromedp.SendKeys(chromedp.ID("new-password-again"), "a new password from the key"), chromedp.Click(chromedp.CSS(`#recover button[type=submit]`)))
	b.waitText("#recover-status", "A new password is set")
	u.alice.Lock(ctx)
	if err := u.alice.Unlock(ctx, []byte(uiPassword)); err == nil {
		t.Fatal("the forgotten password still opens the vault")
	}
	u.waitUnlockAllowed(t)
	if err := u.alice.Unlock(ctx, []byte("a new password from the key")); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}
