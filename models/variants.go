package models

// Variants of a model that keep its shape and vocabulary: the same weights
// with noise added (a fine-tune that changed little), or its output layer
// shuffled (a broken conversion). They show what a quality gate catches and
// the load, readiness and warm-up gates do not.

// noiseSalt separates a model's noise streams from its weight streams.
const noiseSalt = 0x6e6f697365 // "noise"

// noisyRows adds noise to fill's int8 values: uniform, with standard
// deviation permille/1000 of the weights' own, from a stream of its own per
// row (seed and row number), clamped to int8's range. Integer arithmetic
// only, so the bytes are the same on every machine. fill's scale is kept,
// so noise on rows of a scale of their own (penalty rows) would be wrong:
// apply it to random weights only.
func noisyRows(fill rowFunc, seed uint64, permille int) rowFunc {
	if permille == 0 {
		return fill
	}
	return func(n int, rng *splitmix, r *row) {
		fill(n, rng, r)
		noise := make([]int8, len(r.q))
		newSplitmix(seed ^ uint64(n)*0x9e3779b97f4a7c15).fill(noise)
		for i, d := range noise {
			r.q[i] = int8(min(max(int(r.q[i])+int(d)*permille/1000, -127), 127))
		}
	}
}

// shuffledRows returns the rows fill would write, in another order: row n
// becomes the row perm[n] of the original, where perm moves only the rows
// movable allows, shuffled by seed (Fisher-Yates on SplitMix64). The
// original rows are made first, from the tensor's own stream (tensorSeed of
// the model's seed and name), so the rows are exactly those of the
// unshuffled model.
func shuffledRows(fill rowFunc, cols int, streamSeed, seed uint64, movable []bool) rowFunc {
	rows := make([]row, len(movable))
	rng := newSplitmix(streamSeed)
	for n := range rows {
		rows[n] = row{q: make([]int8, cols)}
		fill(n, rng, &rows[n])
	}
	var ids []int
	for n, ok := range movable {
		if ok {
			ids = append(ids, n)
		}
	}
	perm := make([]int, len(rows))
	for n := range perm {
		perm[n] = n
	}
	shuffle := newSplitmix(seed)
	for i := len(ids) - 1; i > 0; i-- {
		j := int(shuffle.next() % uint64(i+1))
		perm[ids[i]], perm[ids[j]] = perm[ids[j]], perm[ids[i]]
	}
	return func(n int, _ *splitmix, r *row) {
		src := rows[perm[n]]
		copy(r.q, src.q)
		r.scale = src.scale
	}
}
