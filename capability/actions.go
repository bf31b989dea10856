package capability

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
)

// Actions is a set of actions, one bit each. The wire form is the same
// unsigned integer; unknown bits make a token malformed.
type Actions uint8

// The actions. Admin does not imply Share: delegating needs Share itself.
const (
	Read   Actions = 1 << iota // read a resource's content
	List                       // list names under a resource
	Write                      // create or replace
	Delete                     // remove
	Admin                      // change the resource's settings
	Share                      // delegate this token onwards
	Use                        // use a secret without reading it (brokered)

	allActions = Read | List | Write | Delete | Admin | Share | Use
)

// DefaultAgentCeiling is the ceiling put on tokens for agents: read and
// list only.
const DefaultAgentCeiling = Read | List

// forbiddenInCeiling can never appear in a ceiling, so no token under a
// ceiling can delete, administer or delegate.
const forbiddenInCeiling = Delete | Admin | Share

// actionNames returns the wire names by bit position (a function, so no
// package variable can be changed).
func actionNames() [7]string {
	return [7]string{"read", "list", "write", "delete", "admin", "share", "use"}
}

// ParseActions parses a comma-separated list ("read,list"); order and
// spaces do not matter, duplicates and unknown names are errors.
func ParseActions(s string) (Actions, error) {
	var a Actions
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		b, ok := actionBit(f)
		if !ok {
			return 0, fmt.Errorf("%w: unknown action %q", ErrMalformed, f)
		}
		if a&b != 0 {
			return 0, fmt.Errorf("%w: duplicate action %q", ErrMalformed, f)
		}
		a |= b
	}
	return a, nil
}

func actionBit(name string) (Actions, bool) {
	for i, n := range actionNames() {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// Valid reports whether a is non-empty and has no unknown bits.
func (a Actions) Valid() bool { return a != 0 && a&^allActions == 0 }

// Has reports whether a contains every action in b.
func (a Actions) Has(b Actions) bool { return a&b == b }

// Single reports whether a is exactly one known action (a request's action).
func (a Actions) Single() bool { return a.Valid() && bits.OnesCount8(uint8(a)) == 1 }

// Names lists the actions in canonical order.
func (a Actions) Names() []string {
	out := make([]string, 0, bits.OnesCount8(uint8(a)))
	for i, n := range actionNames() {
		if a&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if a&^allActions != 0 {
		out = append(out, fmt.Sprintf("unknown(%#x)", uint8(a&^allActions)))
	}
	return out
}

// String is the canonical comma-separated form, "-" for none.
func (a Actions) String() string {
	if a == 0 {
		return "-"
	}
	return strings.Join(a.Names(), ",")
}

// MarshalJSON writes the names as a JSON array.
func (a Actions) MarshalJSON() ([]byte, error) { return json.Marshal(a.Names()) }

// validCeiling reports whether c may be used as a ceiling.
func validCeiling(c Actions) error {
	if !c.Valid() {
		return fmt.Errorf("%w: ceiling %#x is not a valid action set", ErrMalformed, uint8(c))
	}
	if c&forbiddenInCeiling != 0 {
		return fmt.Errorf("%w: ceiling may not contain %s", ErrMalformed, c&forbiddenInCeiling)
	}
	return nil
}
