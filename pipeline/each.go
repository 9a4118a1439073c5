package pipeline

import "fmt"

// Each calls fn for every message of in, in order. If fn returns an error
// or panics for message i, message i is rejected to the dead-letter topic
// with that error and Each goes on with the next message: one poisonous
// record never takes its batch down with it.
func Each[T any](in []Msg[T], out *Emitter, fn func(i int, m *Msg[T]) error) {
	for i := range in {
		if err := guard(fn, i, &in[i]); err != nil {
			out.Reject(i, err)
		}
	}
}

func guard[T any](fn func(int, *Msg[T]) error, i int, m *Msg[T]) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return fn(i, m)
}
