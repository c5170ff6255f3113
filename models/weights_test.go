package models

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

func TestF16(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"half", 0.5, 0x3800},
		{"minus two", -2, 0xc000},
		{"zero", 0, 0x0000},
		{"largest half", 65504, 0x7bff},
		{"overflow saturates", 1e6, 0x7c00},
		{"third rounds to nearest", 1.0 / 3, 0x3555},
		{"tie rounds to even", 1 + 1.0/2048, 0x3c00},
		{"above tie rounds up", 1 + 1.0/2048 + 1.0/65536, 0x3c01},
		{"rounding carries into exponent", 2 - 1.0/4096, 0x4000},
		{"weight scale (checked with Python struct e)", float32(std(768) / int8Std), 0x1008},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f16(tt.in); got != tt.want {
				t.Errorf("f16(%v) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitmixIsSpecified(t *testing.T) {
	// SplitMix64's published first outputs for seed 0: the weights must not
	// change with the Go version.
	s := newSplitmix(0)
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}
	for i, w := range want {
		if got := s.next(); got != w {
			t.Errorf("output %d = %#x, want %#x", i, got, w)
		}
	}
	q := make([]int8, 4096)
	newSplitmix(7).fill(q)
	for i, v := range q {
		if v < -127 {
			t.Fatalf("q[%d] = %d, want >= -127", i, v)
		}
	}
}

func TestWeightsEncoding(t *testing.T) {
	tests := []struct {
		name string
		typ  tensorType
		fill rowFunc
		want func(t *testing.T, b []byte)
	}{
		{"F32 constant", typeF32, constRows(1), func(t *testing.T, b []byte) {
			for i := 0; i < len(b); i += 4 {
				if v := math.Float32frombits(binary.LittleEndian.Uint32(b[i:])); v != 1 {
					t.Fatalf("value %d = %v, want 1", i/4, v)
				}
			}
		}},
		{"Q8_0 one row", typeQ8_0, oneRow(1, 1), func(t *testing.T, b []byte) {
			rowLen := typeQ8_0.rowBytes(64)
			if !bytes.Equal(b[:rowLen], make([]byte, rowLen)) {
				t.Error("row 0 is not zero")
			}
			blk := b[rowLen:]
			if got := binary.LittleEndian.Uint16(blk); got != 0x3c00 {
				t.Errorf("row 1 block scale = %#x, want f16(1)", got)
			}
			if blk[2] != 1 || blk[33] != 1 {
				t.Errorf("row 1 quants = %d..%d, want 1", blk[2], blk[33])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &weights{typ: tt.typ, cols: 64, rows: 3, seed: 1, fill: tt.fill}
			n, err := w.WriteTo(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(3 * tt.typ.rowBytes(64)); n != want || int64(buf.Len()) != want {
				t.Fatalf("wrote %d (buffer %d) bytes, want %d", n, buf.Len(), want)
			}
			tt.want(t, buf.Bytes())
		})
	}
}

func TestRandomRowsHaveRequestedScale(t *testing.T) {
	w := &weights{typ: typeF32, cols: 1024, rows: 64, seed: 42, fill: randomRows(0.05)}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	n := buf.Len() / 4
	for i := 0; i < n; i++ {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(buf.Bytes()[4*i:])))
		sum += v
		sq += v * v
	}
	mean, sd := sum/float64(n), math.Sqrt(sq/float64(n))
	if math.Abs(mean) > 0.002 || math.Abs(sd-0.05) > 0.002 {
		t.Errorf("mean %.4f, std %.4f; want ~0 and ~0.05", mean, sd)
	}
}
