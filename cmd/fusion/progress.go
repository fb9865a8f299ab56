package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// isTerminal reports whether w is an interactive terminal: a character
// device other than the null device. golang.org/x/term is not a
// dependency; this is all the progress bar needs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// console serialises what a command writes to stderr and, on a terminal,
// keeps a one-line progress bar below it that is redrawn a few times a
// second. Off a terminal it only passes lines through.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	drawn bool // a bar is on the screen

	start   time.Time
	objects *atomic.Int64 // objects read so far, all files
	file    string
	total   int64         // size of the current file; -1 when unknown
	bytes   *atomic.Int64 // bytes of the current file read so far

	stop chan struct{}
	done chan struct{}
}

func newConsole(w io.Writer, objects *atomic.Int64) *console {
	c := &console{w: w, tty: isTerminal(w), start: time.Now(), objects: objects, total: -1}
	if c.tty {
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.tick()
	}
	return c
}

// printf writes one line (a newline is added), above the bar if one is shown.
func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drawn {
		io.WriteString(c.w, "\r\x1b[K")
		c.drawn = false
	}
	fmt.Fprintf(c.w, format+"\n", args...)
}

// setFile makes the bar follow a new input.
func (c *console) setFile(name string, total int64, bytes *atomic.Int64) {
	c.mu.Lock()
	c.file, c.total, c.bytes = name, total, bytes
	c.mu.Unlock()
}

func (c *console) tick() {
	defer close(c.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.mu.Lock()
			io.WriteString(c.w, "\r\x1b[K"+c.bar())
			c.drawn = true
			c.mu.Unlock()
		}
	}
}

// bar renders e.g.
// "apt1.json [#######.............]  35%  102.4/290.1 MB  180211 objects  61022 objects/s".
func (c *console) bar() string {
	var b strings.Builder
	b.WriteString(c.file)
	var read int64
	if c.bytes != nil {
		read = c.bytes.Load()
	}
	if c.total > 0 {
		const width = 24
		frac := float64(read) / float64(c.total)
		frac = min(max(frac, 0), 1)
		n := int(frac * width)
		fmt.Fprintf(&b, " [%s%s] %3.0f%%  %s/%s", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, mb(read), mb(c.total))
	} else {
		fmt.Fprintf(&b, "  %s", mb(read))
	}
	n := c.objects.Load()
	fmt.Fprintf(&b, "  %d objects  %.0f objects/s", n, rate(n, time.Since(c.start)))
	return b.String()
}

// close removes the bar.
func (c *console) close() {
	if !c.tty {
		return
	}
	close(c.stop)
	<-c.done
	c.mu.Lock()
	if c.drawn {
		io.WriteString(c.w, "\r\x1b[K")
		c.drawn = false
	}
	c.mu.Unlock()
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// progressLine redraws a status line on w every 200 ms when w is a
// terminal; the returned function clears it.
func progressLine(w io.Writer, line func() string) func() {
	if !isTerminal(w) {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				io.WriteString(w, "\r\x1b[K")
				return
			case <-t.C:
				io.WriteString(w, "\r\x1b[K"+line())
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}
