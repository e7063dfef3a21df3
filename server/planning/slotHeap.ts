/**
 * Runner slots ordered by when each becomes free: a binary min-heap over slot indexes, keyed by
 * a number per slot, ties going to the lowest index — exactly the slot a left-to-right scan for
 * the strictly smallest key would pick, in O(log slots) instead of O(slots). The planner's
 * queue simulations only ever push the soonest slot later (raiseSoonest), so that is the one
 * update there is.
 */
export class SlotHeap {
  private readonly heap: number[];
  constructor(private readonly keys: number[]) {
    this.heap = keys.map((_, i) => i);
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i -= 1) this.siftDown(i);
  }

  /** The slot with the smallest key (the lowest index among equals). */
  soonest(): number {
    return this.heap[0]!;
  }

  /** The soonest slot's key becomes `key` (not smaller than it was). */
  raiseSoonest(key: number): void {
    this.keys[this.heap[0]!] = key;
    this.siftDown(0);
  }

  private before(a: number, b: number): boolean {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka < kb || (ka === kb && a < b);
  }

  private siftDown(from: number): void {
    const { heap } = this;
    const n = heap.length;
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.before(heap[right]!, heap[left]!) ? right : left;
      if (!this.before(heap[child]!, heap[i]!)) return;
      [heap[i], heap[child]] = [heap[child]!, heap[i]!];
      i = child;
    }
  }
}
