import { createHash } from 'node:crypto';

/** An authenticated delivery, as the replay guard sees it. */
export interface Delivery {
  provider: string;
  /** The provider's delivery id, or what else identifies the event when it sends none. */
  id: string;
  body: Buffer;
}

export interface DeliveryLog {
  /**
   * Records the delivery. `first` is false when it was seen before; `report` is true only for
   * its first repeat, so a replay storm logs one line per delivery, not one per request.
   */
  record(delivery: Delivery): { first: boolean; report: boolean };
  size(): number;
}

export const DELIVERY_LOG_CAPACITY = 10_000;

/**
 * The id and the body are hashed together: a fixed-size key keeps the memory bound whatever the
 * headers hold, and a provider reusing an id for another event (GitLab's event UUID is shared by
 * recursive hooks) is not mistaken for a replay.
 */
function deliveryKey(delivery: Delivery): string {
  return createHash('sha256')
    .update(delivery.provider)
    .update('\0')
    .update(delivery.id)
    .update('\0')
    .update(delivery.body)
    .digest('base64');
}

/** The last `capacity` authenticated deliveries; the oldest is forgotten first. */
export function createDeliveryLog(capacity = DELIVERY_LOG_CAPACITY): DeliveryLog {
  // A Map iterates in insertion order, so its first key is always the oldest entry.
  const reported = new Map<string, boolean>();

  function record(delivery: Delivery): { first: boolean; report: boolean } {
    const key = deliveryKey(delivery);
    const known = reported.get(key);
    if (known !== undefined) {
      reported.set(key, true);
      return { first: false, report: !known };
    }
    reported.set(key, false);
    if (reported.size > capacity) {
      const oldest = reported.keys().next().value;
      if (oldest !== undefined) reported.delete(oldest);
    }
    return { first: true, report: false };
  }

  return { record, size: () => reported.size };
}
