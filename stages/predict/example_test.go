package predict_test

import (
	"fmt"

	"github.com/smaint/smaint/stages/predict"
)

// ScoreRUL weighs a late prediction of remaining life more than an early
// one by as much: the PHM08 score.
func ExampleScoreRUL() {
	s := predict.ScoreRUL([]float64{90, 110}, []float64{100, 100})
	fmt.Printf("RMSE %.1f, PHM08 %.2f\n", s.RMSE, s.PHM08)
	// Output: RMSE 10.0, PHM08 2.88
}
