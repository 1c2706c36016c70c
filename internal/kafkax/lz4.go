package kafkax

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// lz4BlockSize is the block size of the lz4 frames this process writes.
//
// kafka-go writes lz4 frames with pierrec/lz4's default 4 MB blocks, so
// every compression, and every decompression of such a frame by any
// consumer, takes 4 MB buffers (pooled, but the pools are emptied by every
// garbage collection): with a dozen partitions at work that was the largest
// item of the stages' heap. A record batch here is at most 900 KB
// (maxRequestBytes), so 256 KB blocks cost a second or fourth block header
// per batch and nothing else; the frames stay standard Kafka lz4, which
// every client reads.
const lz4BlockSize = lz4.Block256Kb

func init() {
	compress.Codecs[compress.Lz4] = &lz4Codec{}
}

// lz4Codec is kafka-go's lz4 codec with lz4BlockSize blocks.
type lz4Codec struct {
	readers sync.Pool
	writers sync.Pool
}

func (c *lz4Codec) Code() int8   { return compress.Lz4Codec.Code() }
func (c *lz4Codec) Name() string { return compress.Lz4Codec.Name() }

// NewReader implements compress.Codec.
func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	z, _ := c.readers.Get().(*lz4.Reader)
	if z == nil {
		z = lz4.NewReader(r)
	} else {
		z.Reset(r)
	}
	return &lz4Reader{Reader: z, pool: &c.readers}
}

// NewWriter implements compress.Codec.
func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		_ = z.Apply(lz4.BlockSizeOption(lz4BlockSize)) // a valid option on a new writer
	} else {
		z.Reset(w)
	}
	return &lz4Writer{Writer: z, pool: &c.writers}
}

type lz4Reader struct {
	*lz4.Reader
	pool *sync.Pool
}

func (r *lz4Reader) Close() error {
	if z := r.Reader; z != nil {
		r.Reader = nil
		z.Reset(nil)
		r.pool.Put(z)
	}
	return nil
}

type lz4Writer struct {
	*lz4.Writer
	pool *sync.Pool
}

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	w.pool.Put(z)
	return err
}
