package llm

// slot is one sequence of the llama context: its id and the tokens whose keys
// and values it holds, position by position. A new generation takes the free
// slot whose cache shares the longest prefix with its prompt and decodes only
// the rest: a chat's next turn repeats its whole history, so this saves most
// of the prompt work. Slots belong to the decode loop goroutine.
type slot struct {
	id     int
	cached []int
	busy   bool
	used   uint64 // when it was last taken, for least-recently-used ties
}

func newSlots(n int) []*slot {
	slots := make([]*slot, n)
	for i := range slots {
		slots[i] = &slot{id: i}
	}
	return slots
}

// pickSlot returns the free slot sharing the longest prefix with prompt, the
// least recently used among equals, or nil when every slot is busy.
func pickSlot(slots []*slot, prompt []int) *slot {
	var best *slot
	bestLen := -1
	for _, s := range slots {
		if s.busy {
			continue
		}
		n := commonPrefix(s.cached, prompt)
		if n > bestLen || (n == bestLen && s.used < best.used) {
			best, bestLen = s, n
		}
	}
	return best
}

func commonPrefix(a, b []int) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
