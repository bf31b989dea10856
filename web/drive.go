package web

import (
	"context"
	"net/url"

	"github.com/ocmt/mesh/internal/oauthflow"
	"github.com/ocmt/mesh/node/localapi"
)

// Drive configures "Connect Google Drive" (mesh node --drive-client-id,
// --drive-client-secret): the OAuth client the user registered, and,
// for tests or another provider, the endpoints.
type Drive struct {
	ClientID, ClientSecret string
	AuthURL, TokenURL      string // "": Google's
}

// DriveSecret is the vault name a Drive connection's tokens are kept
// under (an oauth_token secret: agents use it only through the broker).
const DriveSecret = "google-drive"

// driveConnections is Connections over an oauthflow.Flow whose tokens the
// node's vault keeps, through the backend.
type driveConnections struct {
	f      *oauthflow.Flow
	origin string
}

func newDrive(d Drive, redirect string, b localapi.Backend, o Config) (*driveConnections, error) {
	p := oauthflow.GoogleDrive(d.ClientID, d.ClientSecret)
	if d.AuthURL != "" {
		p.AuthURL = d.AuthURL
	}
	if d.TokenURL != "" {
		p.TokenURL = d.TokenURL
	}
	f, err := oauthflow.New(oauthflow.Config{Provider: p, RedirectURL: redirect, Now: o.Now, Logger: o.Logger,
		Store: b.SecretSet, List: b.SecretList, Load: b.SecretGet})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(p.AuthURL)
	if err != nil {
		return nil, err
	}
	return &driveConnections{f: f, origin: u.Scheme + "://" + u.Host}, nil
}

// Choices implements Connections.
func (d *driveConnections) Choices() []Choice {
	var out []Choice
	for _, s := range d.f.Scopes() {
		out = append(out, Choice{ID: s.ID, Words: s.Words})
	}
	return out
}

// Start implements Connections.
func (d *driveConnections) Start(scope string) (string, error) { return d.f.Start(scope, DriveSecret) }

// AuthOrigin implements Connections.
func (d *driveConnections) AuthOrigin() string { return d.origin }

// Finish implements Connections.
func (d *driveConnections) Finish(ctx context.Context, q url.Values) (string, error) {
	c, err := d.f.Finish(ctx, q)
	return c.Name, err
}
