package store

// Page sizes for ListOptions.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListOptions pages through a list with a keyset cursor. Every paged list
// documents its order and its cursor: the ID (for releases, the version) of
// the last item of the previous page. The zero value is the first page of
// DefaultListLimit items.
type ListOptions struct {
	// Limit is the page size: 0 means DefaultListLimit, more than
	// MaxListLimit means MaxListLimit.
	Limit int
	// After is the cursor: the list continues after the item with this ID
	// (or version), in the list's order. 0 starts at the beginning.
	After int64
}

func (o ListOptions) limit() int {
	switch {
	case o.Limit <= 0:
		return DefaultListLimit
	case o.Limit > MaxListLimit:
		return MaxListLimit
	}
	return o.Limit
}

// afterDesc is the cursor of a newest-first list: 0 means no bound.
func (o ListOptions) afterDesc() int64 {
	if o.After <= 0 {
		return 1<<63 - 1
	}
	return o.After
}
