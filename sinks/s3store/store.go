// Package s3store is a model store (score.ModelStore) on Amazon S3 or any
// S3-compatible store, such as MinIO: artifacts are objects
// <prefix>/<model>/<version>.json in one bucket, shared by every instance
// that opens the same URI.
package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/smaint/smaint/stages/score"
)

// DefaultTimeout bounds each request to the store, its retries included.
const DefaultTimeout = 30 * time.Second

// Store is a score.ModelStore in an S3 bucket. It is safe for concurrent
// use. Every call blocks until the store answers, ctx ends, or the
// store's timeout passes; failed requests are retried by the AWS SDK's
// standard retryer (throttling, 5xx, broken connections; 3 attempts).
type Store struct {
	client  *s3.Client
	bucket  string
	prefix  string // "" or ending in "/"
	timeout time.Duration
}

// Option configures Open.
type Option func(*options)

type options struct {
	cfg     *aws.Config
	timeout time.Duration
}

// WithAWSConfig uses cfg instead of the SDK's default configuration
// (environment, shared files, instance roles). The URI's region and
// endpoint still apply.
func WithAWSConfig(cfg aws.Config) Option { return func(o *options) { o.cfg = &cfg } }

// WithTimeout bounds each request, retries included (default
// DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Open returns the store a URI names:
//
//	s3://BUCKET[/PREFIX][?region=R][&endpoint=URL][&path_style=true]
//
// region defaults to the SDK's (AWS_REGION, shared config), else
// us-east-1; endpoint points at an S3-compatible store (MinIO:
// http://minio:9000, with path_style=true). Credentials come from the
// SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
// shared files, instance or pod roles). Open makes no request.
func Open(ctx context.Context, uri string, opts ...Option) (*Store, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("s3store: %q is not s3://BUCKET[/PREFIX]", uri)
	}
	q := u.Query()
	for k := range q {
		if k != "region" && k != "endpoint" && k != "path_style" {
			return nil, fmt.Errorf("s3store: %q: unknown parameter %q (region, endpoint, path_style)", uri, k)
		}
	}
	pathStyle := false
	if v := q.Get("path_style"); v != "" {
		if pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("s3store: %q: path_style=%q is not true or false", uri, v)
		}
	}
	var cfg aws.Config
	if o.cfg != nil {
		cfg = *o.cfg
	} else if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
		return nil, fmt.Errorf("s3store: AWS configuration: %w", err)
	}
	if r := q.Get("region"); r != "" {
		cfg.Region = r
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	endpoint := q.Get("endpoint")
	if endpoint != "" {
		if e, err := url.Parse(endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, fmt.Errorf("s3store: %q: endpoint %q is not an http(s) URL", uri, endpoint)
		}
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if endpoint != "" {
			so.BaseEndpoint = aws.String(endpoint)
		}
		so.UsePathStyle = pathStyle
		// Checksums only where S3 requires them: S3-compatible stores
		// differ in which trailing checksums they accept. Artifacts carry
		// their own SHA-256 (see score.EncodeArtifact).
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, bucket: u.Host, prefix: prefix, timeout: o.timeout}, nil
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, `/\`) && s != "." && s != ".."
}

func (s *Store) key(model, version string) string { return s.prefix + model + "/" + version + ".json" }

func (s *Store) uri(key string) string { return "s3://" + s.bucket + "/" + key }

func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// Put implements score.ModelStore. An S3 PUT is atomic: readers see the
// whole object or the previous state.
func (s *Store) Put(ctx context.Context, model, version string, data []byte) (string, string, error) {
	if !validName(model) || !validName(version) {
		return "", "", fmt.Errorf("s3store: bad model name %q or version %q", model, version)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	key := s.key(model, version)
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data), ContentType: aws.String("application/json"),
	}); err != nil {
		return "", "", fmt.Errorf("s3store: put %s: %w", s.uri(key), err)
	}
	sum := sha256.Sum256(data)
	return s.uri(key), hex.EncodeToString(sum[:]), nil
}

// Get implements score.ModelStore.
func (s *Store) Get(ctx context.Context, uri string) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host != s.bucket {
		return nil, fmt.Errorf("s3store: %q is not an object of s3://%s", uri, s.bucket)
	}
	key := strings.TrimPrefix(path.Clean(u.Path), "/")
	ctx, cancel := s.bound(ctx)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("s3store: get %s: %w", uri, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("s3store: get %s: %w", uri, err)
	}
	return b, nil
}

// Versions implements score.ModelStore.
func (s *Store) Versions(ctx context.Context, model string) ([]score.StoredVersion, error) {
	if !validName(model) {
		return nil, fmt.Errorf("s3store: bad model name %q", model)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	prefix := s.prefix + model + "/"
	var out []score.StoredVersion
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3store: list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(obj.Key), prefix)
			if v, ok := strings.CutSuffix(name, ".json"); ok && validName(v) {
				out = append(out, score.StoredVersion{Version: v, URI: s.uri(prefix + name)})
			}
		}
	}
	if len(out) == 0 {
		return nil, score.ErrNoModel
	}
	slices.SortFunc(out, func(a, b score.StoredVersion) int { return strings.Compare(a.Version, b.Version) })
	return out, nil
}

// SetLive implements score.ModelStore: the object <model>/LIVE holds the
// version.
func (s *Store) SetLive(ctx context.Context, model, version string) error {
	if !validName(model) || !validName(version) {
		return fmt.Errorf("s3store: bad model name %q or version %q", model, version)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	key := s.prefix + model + "/" + liveObject
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: strings.NewReader(version + "\n"),
		ContentType: aws.String("text/plain")}); err != nil {
		return fmt.Errorf("s3store: put %s: %w", s.uri(key), err)
	}
	return nil
}

// Live implements score.ModelStore.
func (s *Store) Live(ctx context.Context, model string) (string, error) {
	if !validName(model) {
		return "", fmt.Errorf("s3store: bad model name %q", model)
	}
	b, err := s.Get(ctx, s.uri(s.prefix+model+"/"+liveObject))
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// liveObject names the object, beside a model's versions, that holds its
// live version; it does not end in .json, so it is no version.
const liveObject = "LIVE"

// Models lists the models the store holds, in name order.
func (s *Store) Models(ctx context.Context) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var out []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &s.prefix, Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3store: list s3://%s/%s: %w", s.bucket, s.prefix, err)
		}
		for _, p := range page.CommonPrefixes {
			if m := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(p.Prefix), s.prefix), "/"); validName(m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

var _ score.ModelStore = (*Store)(nil)
