// Package predict holds smaint's supervised models: gradient-boosted
// regression trees (Boost), and on them a remaining-useful-life model
// trained on run-to-failure history (TrainRUL) and a failure classifier
// trained on labelled rows (TrainClassifier), with their scores (RMSE and
// the PHM08 score; precision, recall and F1 per label).
//
// "smaint train" and "smaint evaluate" train, store and score them
// offline; Stage scores an asset's windows with them in the stream (the
// predict stage). Training is deterministic
// for a seed; trained models are read-only, safe for concurrent use, and
// marshal to JSON as they are.
package predict
