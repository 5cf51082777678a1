package store

import "strings"

// Size is a process size, the platform's unit of CPU and memory for one
// process. The schema's CHECK constraints list the same names.
type Size string

// The sizes, smallest first.
const (
	SizeSmall    Size = "small"
	SizeStandard Size = "standard"
	SizeLarge    Size = "large"
)

// SizeSpec is what a size gives each process: Kubernetes requests and
// limits, as millicores and bytes.
type SizeSpec struct {
	Name               Size
	CPURequestMillis   int64
	CPULimitMillis     int64
	MemoryRequestBytes int64
	MemoryLimitBytes   int64
}

const mebibyte = 1 << 20

// Sizes returns every size, smallest first. Memory request equals the limit
// (memory is not compressible; a process gets what it is billed for); CPU
// may burst to its limit.
func Sizes() []SizeSpec {
	return []SizeSpec{
		{Name: SizeSmall, CPURequestMillis: 100, CPULimitMillis: 500, MemoryRequestBytes: 256 * mebibyte, MemoryLimitBytes: 256 * mebibyte},
		{Name: SizeStandard, CPURequestMillis: 250, CPULimitMillis: 1000, MemoryRequestBytes: 512 * mebibyte, MemoryLimitBytes: 512 * mebibyte},
		{Name: SizeLarge, CPURequestMillis: 500, CPULimitMillis: 2000, MemoryRequestBytes: 1024 * mebibyte, MemoryLimitBytes: 1024 * mebibyte},
	}
}

// DefaultSize is the size of a process type nobody sized.
const DefaultSize = SizeStandard

// ParseSize returns the size named s (case-insensitive), or an ErrInvalid
// error listing the sizes.
func ParseSize(s string) (Size, error) {
	sz := Size(strings.ToLower(strings.TrimSpace(s)))
	if !sz.Valid() {
		return "", invalidf("unknown size %q: use small, standard or large", s)
	}
	return sz, nil
}

// Valid reports whether s is one of the sizes.
func (s Size) Valid() bool { return s.rank() >= 0 }

// Spec returns the resources of s; ok is false for an unknown size.
func (s Size) Spec() (spec SizeSpec, ok bool) {
	for _, sp := range Sizes() {
		if sp.Name == s {
			return sp, true
		}
	}
	return SizeSpec{}, false
}

// AtMost reports whether s is no larger than limit. Unknown sizes are never
// within a limit.
func (s Size) AtMost(limit Size) bool {
	return s.Valid() && limit.Valid() && s.rank() <= limit.rank()
}

func (s Size) String() string { return string(s) }

// rank is s's index in Sizes, or -1.
func (s Size) rank() int {
	for i, sp := range Sizes() {
		if sp.Name == s {
			return i
		}
	}
	return -1
}
