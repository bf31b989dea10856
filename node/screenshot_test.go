package node

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ocmt/mesh/node/localapi"
)

// TestTheSharePageScreenshot renders the Share page as a user sees it,
// after one share (so bob is a known person, with his verification code)
// and with the calendar picked, and checks the picture. With
// OCMT_SCREENSHOT=PATH it also writes the PNG there: the README's
// docs/share-page.png is made so (OCMT_SCREENSHOT=../docs/share-page.png
// go test -run TestTheSharePageScreenshot ./node/).
func TestTheSharePageScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole mesh and a browser: not in -short")
	}
	ctx := context.Background()
	b := startBrowser(t)
	u := startUIMesh(t)
	b.base = u.base
	for p, v := range map[string]string{"files/report.pdf": "%PDF", "photos/summer/beach.jpg": "jpeg", "contacts/family": "mum, dad"} {
		if err := u.alice.PutResource(ctx, p, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := u.alice.Share(ctx, localapi.ShareRequest{Path: "files/**", With: "bob", Can: "read,list", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	u.lockAlice(t)
	b.open("/unlock", "#password")
	b.do("unlock", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.landOn("/share")
	b.do("fill the form", chromedp.SetValue(chromedp.ID("what"), "calendar/**"), chromedp.SendKeys(chromedp.ID("with"), "bob"))
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if w := img.Bounds().Dx(); w < 800 {
		t.Fatalf("the screenshot is %d pixels wide", w)
	}
	text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Calendar", "Files", "Photos", "Contacts", "bob (verification code", "view and edit", "1 week"} {
		if !bytes.Contains([]byte(text), []byte(want)) {
			t.Errorf("the Share page does not say %q:\n%s", want, text)
		}
	}
	if p := os.Getenv("OCMT_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
