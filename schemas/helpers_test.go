package schemas

import "github.com/linkedin/goavro/v2"

var longCodec = func() *goavro.Codec {
	c, err := goavro.NewCodec(`"long"`)
	if err != nil {
		panic(err)
	}
	return c
}()
