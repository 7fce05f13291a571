/** A Server-Sent Events reader for the inspector's `/events`, as a test needs it. */

export interface EventRecord {
  type: string;
  data: Record<string, unknown>;
  time: number;
}

/**
 * Reads `/events` records until `done` holds for the list read so far, then disconnects.
 * Fails when the stream ends first. `onOpen` runs once the server has subscribed (it answers
 * after), so nothing the host emits from then on is missed.
 */
export async function readEvents(
  url: string,
  done: (records: EventRecord[]) => boolean,
  onOpen?: () => void,
): Promise<{ response: Response; records: EventRecord[] }> {
  const controller = new AbortController();
  const response = await fetch(new URL('/events', url), { signal: controller.signal });
  onOpen?.();
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const records: EventRecord[] = [];
  let text = '';
  while (!done(records)) {
    const { value, done: ended } = await reader.read();
    if (ended) throw new Error('the event stream ended');
    text += value;
    const messages = text.split('\n\n');
    text = messages.pop()!;
    for (const message of messages) if (message.startsWith('data: ')) records.push(JSON.parse(message.slice(6)) as EventRecord);
  }
  controller.abort();
  return { response, records };
}
