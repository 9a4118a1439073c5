package pipeline

import (
	"sort"
	"sync"
)

// Health collects named readiness states: one per runner, sink or other
// component. The process is ready when every registered component is. It
// is safe for concurrent use; a nil *Health ignores every call.
type Health struct {
	mu     sync.Mutex
	states map[string]componentState
}

type componentState struct {
	ready  bool
	detail string
}

// NewHealth returns an empty Health.
func NewHealth() *Health { return &Health{states: make(map[string]componentState)} }

// Set records whether component is ready, with a short human detail.
func (h *Health) Set(component string, ready bool, detail string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.states[component] = componentState{ready, detail}
	h.mu.Unlock()
}

// Remove forgets component (it has stopped on purpose).
func (h *Health) Remove(component string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	delete(h.states, component)
	h.mu.Unlock()
}

// ComponentStatus is one line of a readiness report.
type ComponentStatus struct {
	Component string `json:"component"`
	Ready     bool   `json:"ready"`
	Detail    string `json:"detail,omitempty"`
}

// Report returns every component's state, sorted by name, and whether all
// are ready. With no components registered the process is not ready.
func (h *Health) Report() ([]ComponentStatus, bool) {
	if h == nil {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ComponentStatus, 0, len(h.states))
	all := len(h.states) > 0
	for name, s := range h.states {
		out = append(out, ComponentStatus{name, s.ready, s.detail})
		all = all && s.ready
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Component < out[j].Component })
	return out, all
}
