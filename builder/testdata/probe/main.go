// Command probe checks that an image serves HTTP on $PORT. The builder's
// tests run it inside a built image, as the image's user and in its working
// directory: it starts the command it is given with PORT set, polls
// http://127.0.0.1:$PORT/ until it answers, prints what it got and stops
// the command.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	port := flag.String("port", "", "the PORT to give the command")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for an answer")
	flag.Parse()
	if *port == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: probe -port PORT command [args...]")
		os.Exit(2)
	}
	os.Exit(probe(*port, *timeout, flag.Args()))
}

func probe(port string, timeout time.Duration, args []string) int {
	wd, _ := os.Getwd()
	fmt.Printf("probe: uid=%d gid=%d cwd=%s\n", os.Getuid(), os.Getgid(), wd)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PORT="+port)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Println("probe: starting:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := "http://127.0.0.1:" + port + "/"
	for {
		select {
		case err := <-exited:
			fmt.Println("probe: command exited before answering:", err)
			return 1
		case <-ctx.Done():
			fmt.Println("probe: no answer within", timeout)
			return 1
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		fmt.Printf("probe: status=%d body=%q\n", resp.StatusCode, body)
		if resp.StatusCode != http.StatusOK {
			return 1
		}
		return 0
	}
}
