package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// pipelineProc is the pipeline under benchmark: "smaint run" in a child
// process, so that its CPU time and memory are its own, not the embedded
// broker's or the load generator's.
type pipelineProc struct {
	cmd    *exec.Cmd
	http   string
	stderr *tailBuffer
	done   chan struct{}
	err    error
	usage  *syscall.Rusage
}

// startPipeline starts cmd, "smaint run" with its arguments, with its
// metrics on a free port and env added to this process's environment.
func startPipeline(cmd *exec.Cmd, env []string) (*pipelineProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &pipelineProc{cmd: cmd, http: addr, stderr: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Args = append(cmd.Args, "--http", addr)
	cmd.Stderr = p.stderr
	cmd.Stdout = io.Discard
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the pipeline process: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		if st := cmd.ProcessState; st != nil {
			p.usage, _ = st.SysUsage().(*syscall.Rusage)
		}
		close(p.done)
	}()
	return p, nil
}

// kill ends the child at once if it still runs.
func (p *pipelineProc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady waits until the child's /readyz answers 200.
func (p *pipelineProc) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer" // what /readyz last said, for the error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("the pipeline process exited: %v\n%s", p.err, p.stderr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return fmt.Errorf("the pipeline process was not ready after %v; /readyz said %s\n%s", timeout, last, p.stderr)
}

// scrape reads the child's metrics.
func (p *pipelineProc) scrape(ctx context.Context) ([]*dto.MetricFamily, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.http+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out, nil
}

// resources returns the child's CPU seconds so far and its resident and
// peak resident memory, from /proc (zeros where /proc is absent).
func (p *pipelineProc) resources() (cpu float64, rss, peak int64) {
	return procResources(fmt.Sprint(p.cmd.Process.Pid))
}

// procResources reads a process's CPU seconds, resident and peak resident
// memory from /proc/PID ("self" for this one).
func procResources(pid string) (cpu float64, rss, peak int64) {
	if b, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
		// Fields after the command name (which may hold spaces): utime and
		// stime are the 14th and 15th fields of the line.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 13 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				cpu = (ut + st) / 100 // clock ticks: USER_HZ is 100 on Linux
			}
		}
	}
	if b, err := os.ReadFile("/proc/" + pid + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				rss = kb << 10
			case "VmHWM":
				peak = kb << 10
			}
		}
	}
	return cpu, rss, peak
}

// stop asks the child to drain and exit (SIGTERM) and returns its CPU
// seconds, from the kernel's accounting of the exited child, and its peak
// RSS, the last VmHWM read from /proc before it exited. Not the exited
// child's ru_maxrss: the kernel counts in it the memory of the process the
// child was forked from, as it was at exec, and this process holds the
// embedded broker with every record of a flat-out run.
func (p *pipelineProc) stop(timeout time.Duration) (cpu float64, peak int64, err error) {
	_, _, peak = p.resources()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
wait:
	for {
		select {
		case <-p.done:
			break wait
		case <-tick.C:
			if _, _, hwm := p.resources(); hwm > peak {
				peak = hwm
			}
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
			return 0, 0, fmt.Errorf("the pipeline process did not stop within %v", timeout)
		}
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return 0, 0, p.err
	}
	if p.usage == nil {
		return 0, 0, errors.New("no resource usage of the pipeline process")
	}
	u := p.usage
	cpu = time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
	if p.err != nil {
		return cpu, peak, fmt.Errorf("the pipeline process failed: %v\n%s", p.err, p.stderr)
	}
	return cpu, peak, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
