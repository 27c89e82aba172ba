import { describe, expect, it } from 'vitest';
import { UploadSlots } from './upload-slots.js';

describe('upload slots', () => {
  it('refuses a caller at its own limit first, then everyone at the limit in all, and frees each slot once', () => {
    const slots = new UploadSlots({ perCaller: 2, total: 3 });
    const a1 = slots.take('a');
    const a2 = slots.take('a');
    expect(slots.take('a')).toEqual({ refused: 'per_caller' });
    const b1 = slots.take('b');
    expect(slots.take('b')).toEqual({ refused: 'total' });
    // Its own limit is named before the limit in all, even when both are reached.
    expect(slots.take('a')).toEqual({ refused: 'per_caller' });
    if (!('release' in a1) || !('release' in a2) || !('release' in b1)) throw new Error('a slot was refused');
    a1.release();
    // A second release of the same upload (answer sent, then connection lost) frees nothing more.
    a1.release();
    const b2 = slots.take('b');
    expect(b2).toHaveProperty('release');
    expect(slots.take('c')).toEqual({ refused: 'total' });
    a2.release();
    b1.release();
    expect(slots.take('c')).toHaveProperty('release');
  });
});
