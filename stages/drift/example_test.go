package drift_test

import (
	"fmt"

	"github.com/smaint/smaint/stages/drift"
)

// KSTest and PSI compare two samples; the drift stage applies them to
// consecutive windows of each sensor's raw values. Both want ref sorted
// (KSTest wants cur sorted too).
func Example() {
	ref := make([]float64, 200)
	same := make([]float64, 200)
	moved := make([]float64, 200)
	for i := range ref {
		ref[i] = float64(i)
		same[i] = float64(i) + 0.5
		moved[i] = float64(i) + 60
	}
	d, p := drift.KSTest(ref, same)
	fmt.Printf("same:  D %.3f  p %.3f  PSI %.3f\n", d, p, drift.PSI(ref, same, 10, 1e-4))
	d, p = drift.KSTest(ref, moved)
	fmt.Printf("moved: D %.3f  p %.1e  PSI %.3f\n", d, p, drift.PSI(ref, moved, 10, 1e-4))
	// Output:
	// same:  D 0.005  p 1.000  PSI 0.001
	// moved: D 0.300  p 1.9e-08  PSI 2.486
}
