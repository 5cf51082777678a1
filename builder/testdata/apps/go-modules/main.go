// Command guestbook is a Go sample with third-party modules that reads its
// templates and static files from its source tree at run time, as most Go
// web apps do.
package main

import (
	"html/template"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	// Relative to the working directory: the app's root.
	page := template.Must(template.ParseFiles("templates/index.html.tmpl"))

	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		err := page.Execute(w, map[string]string{
			"Greeting": os.Getenv("GREETING"),
			"Visit":    uuid.NewString(),
		})
		if err != nil {
			log.Printf("rendering: %v", err)
		}
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	r.Handle("/static/*", http.StripPrefix("/static/", http.FileServer(http.Dir("static"))))

	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, r))
}
