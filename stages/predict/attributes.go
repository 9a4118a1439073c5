package predict

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/smaint/smaint/pipeline"
)

// LoadAttributes reads a JSON file of the assets' category inputs, for
// Config.Attributes: an object keyed by asset id, each an object of input
// names and their levels, e.g. {"asset-001": {"Type": "L"}}. A level must
// be a string, as it was a word in training. Errors wrap
// pipeline.ErrConfig.
func LoadAttributes(path string) (map[string]map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: attributes: %w", pipeline.ErrConfig, err)
	}
	var out map[string]map[string]string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%w: attributes %s: want {\"<asset id>\": {\"<input>\": \"<level>\"}}: %v", pipeline.ErrConfig, path, err)
	}
	return out, nil
}
