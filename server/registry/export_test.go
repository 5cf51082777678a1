package registry

import "time"

// SetClock makes a's credentials expire by now instead of the wall clock.
func SetClock(a *Auth, now func() time.Time) { a.now = now }

// DefaultTokenTTL is how long a token lives unless configured.
const DefaultTokenTTL = defaultTokenTTL
