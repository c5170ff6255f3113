package llm

// slot is one sequence of the llama context: its id and the tokens whose keys
// and values it holds, position by position. A new generation takes a free
// slot whose cache shares (nearly) the longest prefix with its prompt and
// decodes only the rest: a chat's next turn repeats its whole history, so
// this saves most of the prompt work. Slots belong to the decode loop
// goroutine.
type slot struct {
	id     int
	cached []int
	busy   bool
}

func newSlots(n int) []*slot {
	slots := make([]*slot, n)
	for i := range slots {
		slots[i] = &slot{id: i}
	}
	return slots
}

// prefixSlack is how many more prompt tokens a request may recompute to
// take a lower-numbered slot: a few prompt tokens decode in one batched pass,
// while a gap in the busy slots' ids costs an extra forward pass on every
// generation step (see Engine.addPrompts).
const prefixSlack = 64

// pickSlot returns the lowest-numbered free slot whose cache shares nearly
// the longest prefix with prompt (within prefixSlack tokens), or nil when
// every slot is busy.
func pickSlot(slots []*slot, prompt []int) *slot {
	best := -1
	lcp := make([]int, len(slots))
	for i, s := range slots {
		if !s.busy {
			lcp[i] = commonPrefix(s.cached, prompt)
			best = max(best, lcp[i])
		}
	}
	for i, s := range slots {
		if !s.busy && lcp[i] >= best-prefixSlack {
			return s
		}
	}
	return nil
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
