package server

import (
	"net/http"
	"strconv"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// listPage answers a list request with one page of it: GET ...?limit=&after=.
// list returns the items that come after the request's after cursor (""
// for the first page), in the list's order; it is asked for n of them, one
// more than the page, to show whether there is a next page, and may return
// more. Each item on the page is shown by view, which is called after list
// returns; when there is a next page, its next_after is cursor of the
// page's last item. A bad limit, or list's error, is the answer instead.
func listPage[T, V any](w http.ResponseWriter, r *http.Request,
	list func(after string, n int) ([]T, error), view func(T) V, cursor func(T) string) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	items, err := list(after, limit+1)
	if err != nil {
		return err
	}
	p := api.Page[V]{Items: make([]V, 0, min(len(items), limit))}
	for i, it := range items {
		if i == limit {
			p.NextAfter = cursor(items[i-1])
			break
		}
		p.Items = append(p.Items, view(it))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// listPageByID is listPage for a list whose cursor is a number: an ID, or
// a release's version. list gets the cursor and the number of items to
// return as store.ListOptions; id is an item's cursor.
func listPageByID[T, V any](w http.ResponseWriter, r *http.Request,
	list func(store.ListOptions) ([]T, error), view func(T) V, id func(T) int64) error {
	return listPage(w, r, func(after string, n int) ([]T, error) {
		afterID, err := idCursor(after)
		if err != nil {
			return nil, err
		}
		return list(store.ListOptions{After: afterID, Limit: n})
	}, view, func(it T) string { return strconv.FormatInt(id(it), 10) })
}

// pageParams reads the list query parameters limit and after.
func pageParams(r *http.Request) (limit int, after string, err error) {
	q := r.URL.Query()
	limit = api.DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxLimit {
			return 0, "", invalid("limit", "limit must be a whole number from 1 to %d", api.MaxLimit)
		}
		limit = n
	}
	return limit, q.Get("after"), nil
}

// idCursor parses the after parameter of a list whose cursor is an ID.
func idCursor(after string) (int64, error) {
	if after == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(after, 10, 64)
	if err != nil || id < 0 {
		return 0, invalid("after", "after must be the next_after of the previous page")
	}
	return id, nil
}
