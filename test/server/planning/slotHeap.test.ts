import { expect } from 'chai';
import { SlotHeap } from '../../../server/planning/slotHeap.js';
import { seededRandom } from '../../helpers.js';

/** The slot a left-to-right scan for the strictly smallest key picks (what the heap replaces). */
function scan(keys: number[]): number {
  let slot = 0;
  for (let s = 1; s < keys.length; s += 1) if (keys[s]! < keys[slot]!) slot = s;
  return slot;
}

describe('SlotHeap', () => {
  it('picks the slot a linear scan would, ties to the lowest index, through many raises', () => {
    for (const slots of [1, 2, 3, 7, 40, 401]) {
      const random = seededRandom(slots);
      // Whole numbers from a small range, so ties are common.
      const keys = Array.from({ length: slots }, () => Math.floor(random() * 5));
      const mirror = [...keys];
      const heap = new SlotHeap(keys);
      for (let step = 0; step < 3000; step += 1) {
        const slot = heap.soonest();
        expect(slot, `${slots} slots, step ${step}`).to.equal(scan(mirror));
        const raised = mirror[slot]! + Math.floor(random() * 3);
        mirror[slot] = raised;
        heap.raiseSoonest(raised);
      }
      expect(keys).to.deep.equal(mirror);
    }
  });
});
