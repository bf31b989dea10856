package recovery

import (
	"bytes"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// seeds are one message of every kind and each method's meta.
func seeds(f *testing.F) (msgs [][]byte, social, hardware, escrowMeta []byte, bodies map[Kind][]byte) {
	s := dealSocial(f, 3, 2)
	device := testkit.Key(f, "new-laptop")
	reqB, _ := NewRequest(device, s.owner.ID(), "owner", s.clk.Now())
	req := s.request(f, device)
	rel, _ := Release(s.friends[0], s.held(f, 0), req, s.clk.Now())
	veto, _ := NewVeto(s.owner, req.ID, s.clk.Now())
	e := escrow(f, "owner")
	ereq, _ := e.request(f, vaultA)
	erel := e.releaseFor(f, ereq)
	_, r, _ := NewHardwareIdentity()
	_, hmeta, _ := EnableHardware(r)
	msgs = [][]byte{s.dealt.Shares[0], reqB, rel, veto, ereq, erel}
	bodies = map[Kind][]byte{}
	for _, m := range msgs {
		o := opened(f, m)
		bodies[o.Kind] = o.Body
	}
	return msgs, s.dealt.Meta, hmeta, e.meta, bodies
}

func FuzzOpen(f *testing.F) {
	msgs, _, _, _, _ := seeds(f)
	for _, m := range msgs {
		f.Add(m)
		f.Add(m[:len(m)-1])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Open(b)
		if err != nil {
			return
		}
		if len(b) > maxMessageBytes || o.Kind < KindShare || o.Kind > KindEscrowRelease {
			t.Fatalf("opened a %s of %d bytes", o.Kind, len(b))
		}
		var s signedWire
		if err := wire.UnmarshalCanonical(b, &s); err != nil {
			t.Fatal(err)
		}
		again, err := wire.Marshal(s)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatal("an opened message does not re-encode to its bytes")
		}
	})
}

func FuzzParseSocialMeta(f *testing.F) {
	_, social, _, _, _ := seeds(f)
	f.Add(social)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, c, err := ParseSocialMeta(b)
		if err != nil {
			return
		}
		again, err := wire.Marshal(m)
		if err != nil || !bytes.Equal(again, b) || len(m.Handles) != len(c.Admins) {
			t.Fatal("a social meta that parses does not re-encode to its bytes")
		}
	})
}

func FuzzParseHardwareMeta(f *testing.F) {
	_, _, hardware, _, _ := seeds(f)
	f.Add(hardware)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseHardwareMeta(b)
		if err != nil {
			return
		}
		again, err := wire.Marshal(m)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatal("a hardware meta that parses does not re-encode to its bytes")
		}
	})
}

func FuzzParseEscrowMeta(f *testing.F) {
	_, _, _, escrowMeta, _ := seeds(f)
	f.Add(escrowMeta)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := ParseEscrowMeta(b)
		if err != nil {
			return
		}
		again, err := wire.Marshal(m)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatal("an escrow meta that parses does not re-encode to its bytes")
		}
	})
}

// FuzzBodies gives every checker a body of its kind as if its signature
// verified (the signer is the one the body should name, so the fuzzer
// reaches the checks after the signature's).
func FuzzBodies(f *testing.F) {
	_, social, _, escrowMeta, bodies := seeds(f)
	for k, b := range bodies {
		f.Add(uint8(k), b)
	}
	s := dealSocial(f, 3, 2)
	device := testkit.Key(f, "new-laptop")
	req := s.request(f, device)
	e := escrow(f, "owner")
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		now := testkit.Epoch
		o := &Opened{Kind: Kind(kind), Body: b}
		switch o.Kind {
		case KindShare:
			o.Signer = s.owner.ID()
			if h, err := CheckShare(o, s.friends[0]); err == nil {
				again, _ := wire.Marshal(h.Body)
				if !bytes.Equal(again, b) || h.Owner != s.owner.ID() {
					t.Fatal("a share body that checks does not re-encode to its bytes")
				}
			}
		case KindRequest:
			o.Signer = device.ID()
			if r, err := CheckRequest(o, now); err == nil {
				if r.Device != device.ID() || len(r.Nonce) != NonceSize || len(r.Code()) != 23 {
					t.Fatalf("a request that checks: %+v", r)
				}
			}
		case KindRelease:
			o.Signer = s.ids[1]
			col, err := NewCollector(social, device, req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if col.Add(o) == nil && col.Have() != 1 {
				t.Fatal("an accepted release was not counted")
			}
		case KindVeto:
			o.Signer = s.owner.ID()
			CheckVeto(o, req)
		case KindEscrowRequest:
			o.Signer = e.owner.ID()
			InstitutionRelease(e.inst, bytes.NewReader([]byte(e.instID.String())), mustSign(t, e, o), now)
		case KindEscrowRelease:
			o.Signer = e.inst.ID()
			CheckEscrowRelease(mustSign(t, e, o), escrowMeta, e.owner.ID(), vaultA, now)
		}
	})
}

// mustSign signs o's body as its kind with the escrow's owner's or
// institution's key, whichever o names.
func mustSign(t *testing.T, e *escrowed, o *Opened) []byte {
	k := e.owner
	if o.Signer == e.inst.ID() {
		k = e.inst
	}
	s := signedWire{Version: version, Kind: uint8(o.Kind), Body: o.Body, Signer: []byte(k.ID())}
	m, err := s.message()
	if err != nil {
		t.Fatal(err)
	}
	sig := k.Sign(m)
	s.Sig = sig[:]
	b, err := wire.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
