package wire

import (
	"fmt"
	"io"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Decoding caps shared by every protocol. A frame is already capped in bytes;
// these bound the shape inside it so a small frame cannot expand into a large
// allocation.
const (
	// MaxArrayElements caps any CBOR array (lists of addrs, mailbox items).
	MaxArrayElements = 1024
	// MaxMapPairs caps any CBOR map; our structs have a handful of fields.
	MaxMapPairs = 64
	// MaxNestedLevels caps nesting; our messages are at most a few deep.
	MaxNestedLevels = 16
)

// Codec holds the CBOR modes. The zero value is not usable; use NewCodec.
// It is immutable and safe for concurrent use.
type Codec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

// NewCodec builds the deterministic encoder (RFC 8949 core deterministic:
// shortest forms, sorted map keys) and the strict decoder: duplicate map keys,
// indefinite lengths, tags, unknown fields, invalid UTF-8 and trailing bytes
// are all errors.
func NewCodec() *Codec {
	encOpts := cbor.CoreDetEncOptions()
	// A nil byte string, array or map is written empty, never as null: null
	// is no field's value (doc.go, "CBOR"), so the strict decoder below
	// refuses it, and a value must re-encode to the bytes it came from.
	encOpts.NilContainers = cbor.NilContainerAsEmpty
	enc, err := encOpts.EncMode()
	if err != nil {
		panic(err) // static options; cannot fail
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       MaxMapPairs,
		MaxNestedLevels:   MaxNestedLevels,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return &Codec{enc: enc, dec: dec}
}

// Marshal encodes v deterministically.
func (c *Codec) Marshal(v any) ([]byte, error) {
	b, err := c.enc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: encoding: %w", err)
	}
	return b, nil
}

// Unmarshal decodes b strictly into v. Any decode failure is a BadRequest
// *Error (the cbor detail is kept in the message, which holds no secrets:
// it describes the sender's own bytes).
func (c *Codec) Unmarshal(b []byte, v any) error {
	if err := c.dec.Unmarshal(b, v); err != nil {
		return &Error{Status: BadRequest, Message: "malformed message: " + err.Error()}
	}
	return nil
}

// UnmarshalCanonical decodes strictly and also requires b to be exactly the
// deterministic re-encoding of the result, so one value has one byte form
// (what signatures and fuzz round trips rely on).
func (c *Codec) UnmarshalCanonical(b []byte, v any) error {
	if err := c.Unmarshal(b, v); err != nil {
		return err
	}
	again, err := c.enc.Marshal(v)
	if err != nil || string(again) != string(b) {
		return &Error{Status: BadRequest, Message: "non-canonical encoding"}
	}
	return nil
}

// ReadMsg reads one frame of at most max bytes and decodes it into v.
func (c *Codec) ReadMsg(r io.Reader, max int, v any) error {
	b, err := ReadFrame(r, max)
	if err != nil {
		return err
	}
	return c.Unmarshal(b, v)
}

// WriteMsg encodes v and writes it as one frame of at most max bytes.
func (c *Codec) WriteMsg(w io.Writer, max int, v any) error {
	b, err := c.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, b, max)
}

// std is the package's one Codec, built on first use and never changed after
// (immutable configuration, not mutable state).
var std = sync.OnceValue(NewCodec)

// Marshal encodes v deterministically with the standard codec.
func Marshal(v any) ([]byte, error) { return std().Marshal(v) }

// Unmarshal decodes b strictly into v with the standard codec.
func Unmarshal(b []byte, v any) error { return std().Unmarshal(b, v) }

// UnmarshalCanonical decodes strictly and requires the canonical byte form.
func UnmarshalCanonical(b []byte, v any) error { return std().UnmarshalCanonical(b, v) }

// ReadMsg reads one frame of at most max bytes and decodes it into v.
func ReadMsg(r io.Reader, max int, v any) error { return std().ReadMsg(r, max, v) }

// WriteMsg encodes v and writes it as one frame of at most max bytes.
func WriteMsg(w io.Writer, max int, v any) error { return std().WriteMsg(w, max, v) }
