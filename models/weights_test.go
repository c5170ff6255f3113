package models

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
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

// decodeQ4 is ggml's dequantize_row_q4_0, written from the block layout:
// an f16 d, then 16 bytes; low nibbles are weights 0-15, high nibbles
// 16-31; a weight is (nibble-8)*d.
func decodeQ4(t *testing.T, b []byte) []float64 {
	t.Helper()
	var out []float64
	for ; len(b) >= 18; b = b[18:] {
		d := halfToFloat(binary.LittleEndian.Uint16(b))
		blk := make([]float64, 32)
		for i := 0; i < 16; i++ {
			blk[i] = float64(int(b[2+i]&0x0f)-8) * d
			blk[i+16] = float64(int(b[2+i]>>4)-8) * d
		}
		out = append(out, blk...)
	}
	return out
}

// halfToFloat converts a normal or zero IEEE half to float64.
func halfToFloat(h uint16) float64 {
	exp, mant := int(h>>10&0x1f), float64(h&0x3ff)
	if exp == 0 && mant == 0 {
		return 0
	}
	v := math.Ldexp(1+mant/1024, exp-15)
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func TestQ4Encoding(t *testing.T) {
	const cols = 128
	q := make([]int8, cols)
	newSplitmix(9).fill(q)
	q[5], q[40], q[70] = 127, -127, -128 // the bias weight, the output penalty, the int8 extreme
	for i := 96; i < cols; i++ {
		q[i] = 0 // an all-zero block
	}
	tests := []struct {
		name  string
		q     []int8
		scale float32
		// tol is the largest error allowed per weight, in units of scale.
		tol float64
	}{
		{"random weights, bias and penalty", q, 0.01, 19.0/2 + 1},
		{"constant ones are exact", repeat(1, cols), 0.25, 0},
		{"small values are exact", repeat(-3, cols), 0.5, 0},
		{"zeros", repeat(0, cols), 0.3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, typeQ4_0.rowBytes(cols))
			if len(buf) != cols/32*18 {
				t.Fatalf("row of %d Q4_0 weights is %d bytes, want %d", cols, len(buf), cols/32*18)
			}
			typeQ4_0.encode(buf, row{q: tt.q, scale: tt.scale})
			got := decodeQ4(t, buf)
			for i, v := range tt.q {
				want := float64(v) * float64(tt.scale)
				// f16 rounding of the block scale adds at most 2^-11 of it.
				if err := math.Abs(got[i] - want); err > tt.tol*float64(tt.scale)+math.Abs(want)/1024+1e-9 {
					t.Fatalf("weight %d = %g, want %g (error %g)", i, got[i], want, err)
				}
			}
		})
	}
}

func TestQ4NibblesRound(t *testing.T) {
	tests := []struct {
		name    string
		step    int
		q       int8
		wantNib uint8
	}{
		{"zero", 19, 0, 8},
		{"largest positive stays at 7", 19, 127, 15},
		{"largest negative", 19, -127, 1},
		{"int8 minimum (-128) rounds to -7", 19, -128, 1},
		{"below half rounds down", 19, 28, 9},
		{"above half rounds up", 19, 29, 10},
		{"tie rounds away from zero", 2, 3, 10},
		{"negative tie rounds away from zero", 2, -3, 6},
		{"step 1 is exact", 1, -7, 1},
		{"all-zero block", 0, 0, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := q4Nibbles[tt.step][uint8(tt.q)]; got != tt.wantNib {
				t.Errorf("nibble of %d at step %d = %d, want %d", tt.q, tt.step, got, tt.wantNib)
			}
		})
	}
}

func repeat(v int8, n int) []int8 {
	out := make([]int8, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// Noise moves weights by about its share of their spread, the same way every
// time, and zero noise leaves the rows alone.
func TestNoisyRows(t *testing.T) {
	base := randomRows(1)
	if got := noisyRows(base, 7, 0); got == nil {
		t.Fatal("nil")
	}
	draw := func(fill rowFunc) row {
		r := row{q: make([]int8, 4096)}
		fill(3, newSplitmix(9), &r)
		return r
	}
	plain, noisy, again := draw(base), draw(noisyRows(base, 7, 50)), draw(noisyRows(base, 7, 50))
	sum, changed := 0.0, 0
	for i := range plain.q {
		d := float64(noisy.q[i]) - float64(plain.q[i])
		sum += d * d
		if d != 0 {
			changed++
		}
		if noisy.q[i] != again.q[i] {
			t.Fatal("noise differs between two draws")
		}
	}
	if rms := math.Sqrt(sum / float64(len(plain.q))); rms < 0.03*int8Std || rms > 0.07*int8Std || noisy.scale != plain.scale {
		t.Errorf("5 %% noise moved weights by %.2f (rms), want about %.2f", rms, 0.05*int8Std)
	}
	if changed < len(plain.q)/2 {
		t.Errorf("noise changed %d of %d weights", changed, len(plain.q))
	}
}

// A shuffled output layer holds the same rows, moved only among the movable
// tokens.
func TestShuffledRows(t *testing.T) {
	const n, cols = 50, 8
	fill := func(r int, rng *splitmix, out *row) { rng.fill(out.q); out.scale = float32(r) }
	movable := make([]bool, n)
	for i := 10; i < n; i++ {
		movable[i] = true
	}
	orig := make([]row, n)
	rng := newSplitmix(5)
	for i := range orig {
		orig[i] = row{q: make([]int8, cols)}
		fill(i, rng, &orig[i])
	}
	shuffled := shuffledRows(fill, cols, 5, 1, movable)
	moved, seen := 0, map[float32]bool{}
	for i := range n {
		r := row{q: make([]int8, cols)}
		shuffled(i, nil, &r)
		src := int(r.scale)
		if !slices.Equal(r.q, orig[src].q) || seen[r.scale] {
			t.Fatalf("row %d: not exactly one original row", i)
		}
		seen[r.scale] = true
		if src != i {
			moved++
			if !movable[i] || !movable[src] {
				t.Errorf("row %d holds row %d: a fixed row moved", i, src)
			}
		}
	}
	if moved < n/2 {
		t.Errorf("%d of %d rows moved", moved, n)
	}
}
