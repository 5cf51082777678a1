module example.com/guestbook

go 1.26

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/google/uuid v1.6.0
)
