package capability

import (
	"fmt"
	"time"
)

// MaxLifetime bounds what a node will sign: a grant needed for longer is
// issued again, not minted for ever. It is an issuing policy, not a format
// cap: a verifier accepts any expiry a valid signature covers.
const MaxLifetime = 366 * 24 * time.Hour

// MinLifetime is the shortest validity worth signing: under a second, a
// token expires before it is delivered.
const MinLifetime = time.Second

// CheckLifetime refuses a validity outside [MinLifetime, MaxLifetime], in
// the words of the CLI's --for flag.
func CheckLifetime(d time.Duration) error {
	if d < MinLifetime || d > MaxLifetime {
		return fmt.Errorf("--for must be between %v and %v, not %v", MinLifetime, MaxLifetime, d)
	}
	return nil
}
