package recovery

import "errors"

var (
	// ErrBadPhrase: the words are not a valid 24-word recovery phrase (an
	// unknown word, a wrong checksum, another length).
	ErrBadPhrase = errors.New("recovery: this is not a valid 24-word recovery phrase (a word is misspelt, missing or out of order)")
	// ErrMalformed: a message or a method's meta does not decode.
	ErrMalformed = errors.New("recovery: malformed")
	// ErrBadSignature: a message is not signed by whom it names.
	ErrBadSignature = errors.New("recovery: signature is not valid")
	// ErrStale: a message is too old, or dated too far ahead.
	ErrStale = errors.New("recovery: stale")
	// ErrNotFriend: a release comes from a peer that is not one of the
	// owner's friends.
	ErrNotFriend = errors.New("recovery: not one of the owner's friends")
	// ErrWrongKey: an identity or a key does not open what was sealed.
	ErrWrongKey = errors.New("recovery: this key does not open it")
	// ErrNotReleased: an escrow release is not for this user and vault,
	// or not from the institution the owner chose.
	ErrNotReleased = errors.New("recovery: the release statement is not for this vault")
)
