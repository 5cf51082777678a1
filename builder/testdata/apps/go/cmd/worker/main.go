// Command worker is the Go sample app's worker process.
package main

import (
	"log"
	"time"
)

func main() {
	for range time.Tick(10 * time.Second) {
		log.Print("worker: tick")
	}
}
