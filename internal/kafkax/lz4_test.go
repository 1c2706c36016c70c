package kafkax

import (
	"bytes"
	"io"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// TestLZ4Codec checks that the installed codec writes standard lz4 frames
// with small blocks that any lz4 reader decodes, and reads them back.
func TestLZ4Codec(t *testing.T) {
	codec := compress.Lz4.Codec()
	if _, ok := codec.(*lz4Codec); !ok {
		t.Fatalf("kafka-go's lz4 codec is %T, want the small-block codec", codec)
	}
	data := bytes.Repeat([]byte(`{"type":"page","path":"/p/some-product-#","device":{"class":"mobile"}}`), 20000) // 1.4 MB
	for i := 0; i < 3; i++ {                                                                                      // pooled writers and readers too
		var buf bytes.Buffer
		w := codec.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// Frame descriptor: BD byte, block maximum size in bits 4-6 (5: 256 KB).
		if bd := buf.Bytes()[5]; bd>>4&7 != 5 {
			t.Fatalf("block size code %d, want 5 (256 KB)", bd>>4&7)
		}
		got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(buf.Bytes())))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("standard reader: %v, equal %v", err, bytes.Equal(got, data))
		}
		r := codec.NewReader(bytes.NewReader(buf.Bytes()))
		got, err = io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("codec reader: %v, equal %v", err, bytes.Equal(got, data))
		}
	}
}
