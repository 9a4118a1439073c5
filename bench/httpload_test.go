package bench_test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/bench"
	"github.com/smaint/smaint/bench/plant"
)

// TestHTTPLoad makes a short run of the HTTP load test and requires what
// every run must show: the readings topic holds exactly the accepted
// readings, every abuse case got the answer it should, every one of them,
// the flood was held to its key's limit, and the server served a valid
// request after all of it. Speeds are reported, not asserted.
func TestHTTPLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	bin := plant.Binary(t)
	var progress strings.Builder
	rep, err := bench.RunHTTP(context.Background(), bench.HTTPConfig{
		Duration: time.Second, Clients: 4, Batch: 50, Sensors: 20, Out: &progress,
		Server: func(args []string) (*exec.Cmd, error) {
			return exec.Command(bin, append([]string{"serve"}, args...)...), nil
		},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var table strings.Builder
	rep.Print(&table)
	t.Log(table.String())
	if rep.Accepted == 0 || rep.Accepted != rep.OnTopic {
		t.Errorf("%d readings accepted, %d on the topic", rep.Accepted, rep.OnTopic)
	}
	for _, p := range rep.Phases {
		if p.Requests == 0 || p.Status[http.StatusAccepted] != p.Requests {
			t.Errorf("%s: answers %v of %d requests; want every one 202", p.Name, p.Status, p.Requests)
		}
	}
	for _, a := range rep.Abuse {
		if a.Want != 0 && (a.Status[a.Want] != a.Sent || len(a.Status) != 1) {
			t.Errorf("%s: answers %v of %d; want every one %d", a.Name, a.Status, a.Sent, a.Want)
		}
	}
	flood := rep.Abuse[len(rep.Abuse)-1]
	// The flood ran about 3 s: 50 at once, then 50 a second, at most 4 s
	// of them even on a machine slow to stop it.
	if ok := flood.Status[http.StatusAccepted]; ok == 0 || ok > 50+4*50 || flood.Status[http.StatusTooManyRequests] == 0 {
		t.Errorf("flood: %v", flood.Status)
	}
	if !rep.HealthyAfter {
		t.Error("the server did not serve a valid request after the abuse")
	}
}
