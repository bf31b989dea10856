package capability

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ocmt/mesh/internal/testkit"
)

// This file only benchmarks: the same grant as a depth-1 token, as a JWT
// signed with EdDSA and parsed with every option a safe JWT parse needs.

type jwtClaims struct {
	Actions []string `json:"act"`
	jwt.RegisteredClaims
}

// BenchmarkJWTEdDSAParseVerify parses and verifies an equivalent JWT.
func BenchmarkJWTEdDSAParseVerify(b *testing.B) {
	parse := jwtParseFunc(b)
	b.ReportAllocs()
	for b.Loop() {
		parse()
	}
}

// jwtParseFunc returns one safe parse-and-verify of a JWT carrying the same
// grant as a depth-1 token (issuer, audience, resource, actions, window,
// nonce).
func jwtParseFunc(b *testing.B) func() {
	b.Helper()
	c := newCast(b)
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public()
	nonce := make([]byte, NonceSize)
	claims := jwtClaims{
		Actions: []string{"read", "list"},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.owner.ID().String(),
			Audience:  jwt.ClaimStrings{c.bob.ID().String()},
			Subject:   "calendar/work/*",
			NotBefore: jwt.NewNumericDate(testNow.Add(-time.Hour)),
			ExpiresAt: jwt.NewNumericDate(testNow.Add(time.Hour)),
			ID:        hex.EncodeToString(nonce),
		},
	}
	text, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(priv)
	if err != nil {
		b.Fatal(err)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithAudience(c.bob.ID().String()),
		jwt.WithIssuer(c.owner.ID().String()),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(DefaultSkew),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(testkit.NewClock(testNow).Now),
	)
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
	return func() {
		var got jwtClaims
		if _, err := parser.ParseWithClaims(text, &got, keyFunc); err != nil {
			b.Fatal(err)
		}
	}
}
