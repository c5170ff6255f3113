package models

import (
	"bufio"
	"encoding/binary"
	"hash/fnv"
	"io"
	"math"
)

// tensorType is a ggml tensor type id.
type tensorType uint32

// The tensor types the generator writes. Norm weights are always F32, as
// in llama.cpp's own quantized files.
const (
	typeF32  tensorType = 0
	typeQ4_0 tensorType = 2
	typeQ8_0 tensorType = 8
)

// qBlock is the number of weights in one Q8_0 block (an f16 scale, then 32
// int8 values) and in one Q4_0 block (an f16 scale, then 16 bytes holding
// 32 4-bit values).
const qBlock = 32

// rowBytes is the size of one row of cols weights.
func (t tensorType) rowBytes(cols int) int {
	switch t {
	case typeQ8_0:
		return cols / qBlock * (2 + qBlock)
	case typeQ4_0:
		return cols / qBlock * (2 + qBlock/2)
	}
	return cols * 4
}

// row is the content of one tensor row: value i is q[i]*scale. Weights are
// drawn as int8 and scaled by one float32 multiply, never by float
// arithmetic that a compiler could fuse differently on another CPU, so the
// bytes are the same on every machine.
type row struct {
	q     []int8
	scale float32
}

// rowFunc fills r for row number n of a tensor; rng is the tensor's own
// stream.
type rowFunc func(n int, rng *splitmix, r *row)

// randomRows fills every row with uniform int8 weights of standard deviation
// std.
func randomRows(std float64) rowFunc {
	scale := float32(std / int8Std)
	return func(_ int, rng *splitmix, r *row) {
		rng.fill(r.q)
		r.scale = scale
	}
}

// constRows fills every row with v.
func constRows(v float32) rowFunc {
	return func(_ int, _ *splitmix, r *row) {
		setAll(r, 1, v)
	}
}

// biasDim is the residual-stream dimension the generated models hold
// constant, as a bias for the output layer: llama has no bias terms. Every
// token embedding has its largest value there, no layer writes to it (row
// biasDim of attn_output and ffn_down is zero), so after the final RMSNorm it
// is positive for every prompt and position.
const biasDim = 0

// withBias sets dimension biasDim of every row to the largest int8 step.
func withBias(fill rowFunc) rowFunc {
	return func(n int, rng *splitmix, r *row) {
		fill(n, rng, r)
		r.q[biasDim] = 127
	}
}

// skipBiasRow zeroes the output row that would write dimension biasDim.
func skipBiasRow(fill rowFunc) rowFunc {
	return func(n int, rng *splitmix, r *row) {
		fill(n, rng, r)
		if n == biasDim {
			setAll(r, 0, 0)
		}
	}
}

// outputRows is the output layer: the rows emit selects get random's weights
// (and ignore the bias dimension); every other token gets weight -penalty
// on the bias dimension only, so its logit is far below every word's at any
// temperature, and byte, control and end-of-generation tokens are never
// sampled.
func outputRows(random rowFunc, emit []bool, penalty float32) rowFunc {
	return func(n int, rng *splitmix, r *row) {
		if emit[n] {
			random(n, rng, r)
			r.q[biasDim] = 0
			return
		}
		setAll(r, 0, penalty/127)
		r.q[biasDim] = -127
	}
}

// oneRow fills row only with v and every other row with zeros.
func oneRow(only int, v float32) rowFunc {
	return func(n int, _ *splitmix, r *row) {
		if n == only {
			setAll(r, 1, v)
			return
		}
		setAll(r, 0, 0)
	}
}

func setAll(r *row, q int8, scale float32) {
	for i := range r.q {
		r.q[i] = q
	}
	r.scale = scale
}

// int8Std is the standard deviation of a uniform int8 in [-127, 127].
var int8Std = 127 / math.Sqrt(3)

// weights streams one tensor of rows×cols values (ggml shape [cols, rows])
// to the GGUF writer without holding it in memory.
type weights struct {
	typ        tensorType
	cols, rows int
	seed       uint64
	fill       rowFunc
}

// WriteTo encodes the tensor row by row.
func (w *weights) WriteTo(dst io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(dst, 1<<20)
	rng := newSplitmix(w.seed)
	r := row{q: make([]int8, w.cols)}
	buf := make([]byte, w.typ.rowBytes(w.cols))
	var n int64
	for i := 0; i < w.rows; i++ {
		w.fill(i, rng, &r)
		w.typ.encode(buf, r)
		m, err := bw.Write(buf)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// encode writes r into buf in the tensor type's layout.
func (t tensorType) encode(buf []byte, r row) {
	switch t {
	case typeQ8_0:
		scale := f16(r.scale)
		for b := 0; b < len(r.q)/qBlock; b++ {
			blk := buf[b*(2+qBlock):]
			binary.LittleEndian.PutUint16(blk, scale)
			for i, q := range r.q[b*qBlock : (b+1)*qBlock] {
				blk[2+i] = byte(q)
			}
		}
	case typeQ4_0:
		for b := 0; b < len(r.q)/qBlock; b++ {
			encodeQ4Block(buf[b*(2+qBlock/2):], r.q[b*qBlock:(b+1)*qBlock], r.scale)
		}
	default:
		for i, q := range r.q {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(q)*r.scale))
		}
	}
}

// encodeQ4Block writes 32 int8 weights (value q*scale) as one Q4_0 block:
// an f16 scale d, then 16 bytes whose low nibbles hold weights 0-15 and high
// nibbles weights 16-31, each stored as n+8 for a value n*d, n in [-8, 7].
// The block's int8 values are divided by step = ceil(max|q|/7) and rounded
// in integer arithmetic (a table lookup), and d is scale*step, a single
// float32 multiply: the bytes are the same on every machine. A block of
// zeros gets d = 0.
func encodeQ4Block(blk []byte, q []int8, scale float32) {
	m := 0
	for _, v := range q {
		m = max(m, abs(int(v)))
	}
	step := (m + 6) / 7
	binary.LittleEndian.PutUint16(blk, f16(scale*float32(step)))
	nib := &q4Nibbles[step]
	for i := 0; i < qBlock/2; i++ {
		blk[2+i] = nib[uint8(q[i])] | nib[uint8(q[i+qBlock/2])]<<4
	}
}

// q4Nibbles[step][uint8(q)] is the Q4_0 nibble of int8 q divided by step,
// rounded half away from zero; step 0 (an all-zero block) maps to 8, zero.
var q4Nibbles = func() (t [20][256]uint8) {
	for step := range t {
		for q := -128; q < 128; q++ {
			n := 0
			if step > 0 {
				n = (abs(q) + step/2) / step // a tie (even step) rounds up
				if q < 0 {
					n = -n
				}
			}
			t[step][uint8(int8(q))] = uint8(min(max(n, -8), 7) + 8)
		}
	}
	return t
}()

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// f16 converts a float32 to IEEE half precision, rounding to nearest even.
// Scales are small positive normal numbers; values beyond half's range
// saturate to infinity and subnormals flush to zero, neither of which the
// generator produces.
func f16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0:
		return sign
	}
	h := uint32(exp)<<10 | mant>>13
	rest := mant & 0x1fff
	if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent, which is still correct
	}
	return sign | uint16(h)
}

// splitmix is SplitMix64: a tiny, fully specified generator, so weights do
// not depend on the Go version's math/rand algorithms.
type splitmix struct{ state uint64 }

func newSplitmix(seed uint64) *splitmix { return &splitmix{state: seed} }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill sets q to uniform values in [-127, 127], eight per draw.
func (s *splitmix) fill(q []int8) {
	var x uint64
	for i := range q {
		if i%8 == 0 {
			x = s.next()
		}
		v := int8(x)
		if v == -128 {
			v = -127
		}
		q[i] = v
		x >>= 8
	}
}

// tensorSeed gives every tensor of a model its own stream, so tensors can be
// written in parallel and in any order.
func tensorSeed(modelSeed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return modelSeed ^ h.Sum64()
}
