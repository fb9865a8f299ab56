package main

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("the null device is not a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}

func TestConsoleOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	var objs atomic.Int64
	c := newConsole(&buf, &objs)
	c.printf("a %d", 1)
	c.close()
	if buf.String() != "a 1\n" {
		t.Fatalf("off a terminal the console wrote %q", buf.String())
	}
}

// TestConsoleBar drives the bar as on a terminal: lines printed while it
// is shown clear it first, and close removes it.
func TestConsoleBar(t *testing.T) {
	var buf progressBuffer
	var objs, read atomic.Int64
	c := &console{w: &buf, tty: true, start: time.Now().Add(-2 * time.Second), objects: &objs, total: -1,
		stop: make(chan struct{}), done: make(chan struct{})}
	c.setFile("big.json", 2_000_000, &read)
	objs.Store(1000)
	read.Store(500_000)
	bar := c.bar()
	for _, want := range []string{"big.json [######..................]  25%", "0.5 MB/2.0 MB", "1000 objects", "objects/s"} {
		if !strings.Contains(bar, want) {
			t.Errorf("bar %q lacks %q", bar, want)
		}
	}
	c.setFile("-", -1, &read)
	if bar := c.bar(); strings.Contains(bar, "%") || !strings.HasPrefix(bar, "-  0.5 MB  1000 objects") {
		t.Errorf("bar without a size: %q", bar)
	}
	go c.tick()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "1000 objects") {
		if time.Now().After(deadline) {
			t.Fatal("the bar was never drawn")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.printf("a rejection")
	c.close()
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[Ka rejection\n") {
		t.Errorf("the line was not printed over a cleared bar: %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") && !strings.HasSuffix(out, "a rejection\n") {
		t.Errorf("the bar was left on screen: %q", out)
	}
}

// progressBuffer is a buffer the bar's goroutine and the test share.
type progressBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *progressBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *progressBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
