// A Node preload for `make bench` (`go run ./cmd/bench -fauxqs-inflight-fix`),
// never used by the tests: it measures how much of the worker's gap to the
// bare loop is the emulator's and not the worker's.
//
// fauxqs 1.9.2 (and 2.4.1, the newest) calls processTimers() on every
// ReceiveMessage of a standard queue, and processTimers walks *every*
// in-flight message to find those whose visibility timeout ran out. A
// consumer holding 25,000 messages (a 1 s window at 20,000 messages/s) makes
// each receive walk 25,000 entries; the bare loop, which holds 40, does not
// pay it. Real SQS's cost per receive does not grow with how many messages
// the caller holds.
//
// With this preload, a queue's in-flight map keeps a lower bound of its
// entries' visibility deadlines (every deadline set, by a receive or a
// ChangeMessageVisibility, lowers it), and the walk runs only once that
// bound has passed; after a walk the bound is recomputed. Expired messages
// still come back exactly when they did: only walks that could find nothing
// are skipped. FIFO queues are left as they are. The installed package is not
// modified; the class is patched in memory when fauxqs starts.
import { SqsQueue } from "./node_modules/fauxqs/dist/sqs/sqsStore.js";

class DeadlineMap extends Map {
  earliest = Infinity;

  set(handle, entry) {
    let deadline = entry.visibilityDeadline;
    this.lower(deadline);
    const map = this;
    Object.defineProperty(entry, "visibilityDeadline", {
      enumerable: true,
      configurable: true,
      get: () => deadline,
      set: (v) => {
        deadline = v;
        map.lower(v);
      },
    });
    return super.set(handle, entry);
  }

  lower(deadline) {
    if (deadline < this.earliest) this.earliest = deadline;
  }

  recompute() {
    let earliest = Infinity;
    for (const e of this.values()) if (e.visibilityDeadline < earliest) earliest = e.visibilityDeadline;
    this.earliest = earliest;
  }
}

// fauxqs's log says the preload is in (cmd/bench's test checks it).
console.error("fauxqs-inflight-fix: loaded");

const none = new Map();
const processTimers = SqsQueue.prototype.processTimers;
SqsQueue.prototype.processTimers = function () {
  if (!(this.inflightMessages instanceof DeadlineMap)) {
    const m = new DeadlineMap();
    for (const [h, e] of this.inflightMessages) m.set(h, e);
    this.inflightMessages = m;
  }
  const inflight = this.inflightMessages;
  if (this.isFifo() || inflight.earliest <= Date.now()) {
    processTimers.call(this);
    inflight.recompute();
    return;
  }
  // Nothing in flight can be due: run the rest (delayed messages, waking
  // the waiting polls) over an empty in-flight map.
  this.inflightMessages = none;
  try {
    processTimers.call(this);
  } finally {
    this.inflightMessages = inflight;
  }
};
