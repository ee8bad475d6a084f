// The conformance runner for the TypeScript client: plays tests/conformance/scenario.json
// through ExecstreamClient. The protocol (arguments, JSON lines on stdout, the harness
// handshake) is in tests/conformance/README.md. Everything the scenario checks goes through
// the client library: the reporter numbers and commits, the watches resume, errors come decoded.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type DescMessage, type JsonValue, type MessageShape, fromJson, toJson }
  from '@bufbuild/protobuf';
import {
  type ExecutionEvent, ExecutionEventSchema, ExecstreamClient, type Reporter,
  ReportProgressResponseSchema, ResyncRequired, ServerRefused, type Snapshot, SnapshotSchema,
  type StatusDetails, Unreachable, type Watch,
} from '../src/index.js';

type Json = { [key: string]: JsonValue };
interface Step {
  op: string;
  name?: string;
  watch?: string;
  count?: number;
  task_id?: string;
  task_ids?: string[];
  after_revision?: number;
  events?: Json[];
  wait?: boolean;
  relist?: boolean;
  fill?: { task_id: string; count: number; event: Json };
}
interface Scenario {
  sidecar_id: string;
  timeout_seconds: number;
  steps: Step[];
}

const emit = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

const json = <Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue =>
  toJson(schema, message);

const parseEvent = (raw: Json): ExecutionEvent => fromJson(ExecutionEventSchema, raw);

function errorJson(status: StatusDetails): Json {
  return {
    code: status.code,
    reason: status.reason,
    domain: status.domain,
    metadata: { ...status.metadata },
    fieldViolations: status.fieldViolations.map(({ field, description }) => ({ field, description })),
    ...(status.committed ? { committed: json(ReportProgressResponseSchema, status.committed) } : {}),
  };
}

/** A send's events: `fill` (`count` copies of `event`, seqs from 1), then `events`. */
function sendEvents(step: Step): ExecutionEvent[] {
  const events: ExecutionEvent[] = [];
  const fill = step.fill;
  for (let seq = 1; fill && seq <= fill.count; seq += 1) {
    const event = parseEvent(fill.event);
    event.taskId = fill.task_id;
    event.seq = BigInt(seq);
    events.push(event);
  }
  return [...events, ...(step.events ?? []).map(parseEvent)];
}

/** One background watch: what it delivered (and the snapshots it re-listed with), and a
 * wake-up for whoever waits on it. */
class WatchState {
  readonly events: JsonValue[] = [];
  readonly relists: JsonValue[] | null;
  readonly watch: Watch;
  private failure: unknown = null;
  private ended = false;
  private wake: () => void = () => {};
  private readonly consuming: Promise<void>;

  constructor(client: ExecstreamClient, step: Step) {
    this.relists = step.relist ? [] : null;
    const afterRevision = step.after_revision === undefined ? undefined
      : BigInt(step.after_revision);
    const onRelist = this.relists ? (snapshot: Snapshot) => this.relisted(snapshot) : undefined;
    this.watch = client.watch({ afterRevision, ...(onRelist ? { onRelist } : {}) });
    this.consuming = this.consume();
  }

  private relisted(snapshot: Snapshot): void {
    this.relists?.push(json(SnapshotSchema, snapshot));
    this.wake();
  }

  private async consume(): Promise<void> {
    try {
      for await (const event of this.watch) {
        this.events.push(json(ExecutionEventSchema, event));
        this.wake();
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => { this.wake = resolve; });
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.ended) throw new Error('the watch ended');
  }

  async started(): Promise<void> {
    const changed = this.changed();
    await Promise.race([this.watch.waitStarted(), changed.then(() => this.check())]);
  }

  async waitFor(count: number, relists = false): Promise<void> {
    const have = (): number => (relists ? this.relists?.length ?? 0 : this.events.length);
    while (have() < count) {
      this.check();
      await this.changed();
    }
  }

  async stop(): Promise<JsonValue[]> {
    this.watch.cancel();
    await this.consuming;
    return this.events;
  }
}

class Runner {
  private reporter: Reporter | null = null;
  private flushing: Promise<void> | null = null;
  private readonly watches = new Map<string, WatchState>();
  private readonly lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  readonly result = {
    watches: {} as Json, relists: {} as Json, snapshots: {} as Json, sends: {} as Json,
    report_errors: {} as Json, watch_errors: {} as Json,
  };

  constructor(private readonly client: ExecstreamClient, private readonly scenario: Scenario) {}

  async run(): Promise<typeof this.result> {
    const limitMs = this.scenario.timeout_seconds * 1000;
    try {
      for (const [index, step] of this.scenario.steps.entries()) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(
            `step ${index + 1} (${step.op}) took over ${this.scenario.timeout_seconds}s`)), limitMs);
        });
        try {
          await Promise.race([this.play(index, step), late]);
        } finally {
          clearTimeout(timer);
        }
        emit({ step: step.op, ...(step.name ? { name: step.name } : {}) });
      }
    } finally {
      for (const state of this.watches.values()) await state.stop();
    }
    return this.result;
  }

  private state(name: string | undefined): WatchState {
    const state = this.watches.get(name ?? '');
    if (!state) throw new Error(`no watch named ${name}`);
    return state;
  }

  private async play(index: number, step: Step): Promise<void> {
    switch (step.op) {
      case 'watch': {
        const state = new WatchState(this.client, step);
        this.watches.set(step.name ?? '', state);
        await state.started();
        return;
      }
      case 'report':
        return await this.report(step.task_id ?? '', step.events ?? [], step.wait ?? true);
      case 'await_flush':
        if (!this.flushing) throw new Error('no report is flushing');
        return await this.flushing;
      case 'report_error':
        this.result.report_errors[step.name ?? ''] = await this.reportError(step);
        return;
      case 'await_events':
        return await this.state(step.watch).waitFor(step.count ?? 0);
      case 'await_relist':
        return await this.state(step.watch).waitFor(step.count ?? 0, true);
      case 'collect': {
        const state = this.state(step.watch);
        await state.waitFor(step.count ?? 0);
        this.watches.delete(step.watch ?? '');
        this.result.watches[step.watch ?? ''] = await state.stop();
        if (state.relists) this.result.relists[step.watch ?? ''] = state.relists;
        return;
      }
      case 'kill':
      case 'start': {
        emit({ step: 'await_harness', index });
        const line = await this.lines.next();
        if (line.done || line.value.trim() !== 'done') {
          throw new Error(`expected 'done' on stdin, got ${JSON.stringify(line.value)}`);
        }
        return;
      }
      case 'snapshot': {
        const snapshot = await this.client.snapshot({ taskIds: step.task_ids ?? [] });
        this.result.snapshots[step.name ?? ''] = json(SnapshotSchema, snapshot);
        return;
      }
      case 'send':
        this.result.sends[step.name ?? ''] = await this.send(sendEvents(step));
        return;
      case 'watch_error':
        this.result.watch_errors[step.name ?? ''] =
          await this.watchError(BigInt(step.after_revision ?? 0));
        return;
      default:
        throw new Error(`unknown op ${step.op}`);
    }
  }

  /** Queue on the one reporter; flush, or leave the flush running (`await_flush`). */
  private async report(taskId: string, events: Json[], wait: boolean): Promise<void> {
    this.reporter ??= this.client.reporter(this.scenario.sidecar_id);
    const task = this.reporter.task(taskId);
    for (const raw of events) task.raw(parseEvent(raw));
    const flushing = this.reporter.flush();
    flushing.catch(() => {}); // awaited by await_flush; not an unhandled rejection meanwhile
    this.flushing = flushing;
    if (wait) await flushing;
  }

  private async reportError(step: Step): Promise<Json> {
    try {
      await this.report(step.task_id ?? '', step.events ?? [], true);
    } catch (error) {
      if (error instanceof ServerRefused) return { error: errorJson(error.status) };
      throw error;
    }
    return { response: 'committed' };
  }

  private async send(events: ExecutionEvent[]): Promise<Json> {
    try {
      const response = await this.client.report(this.scenario.sidecar_id, events);
      return { response: json(ReportProgressResponseSchema, response) };
    } catch (error) {
      if (error instanceof ServerRefused) return { error: errorJson(error.status) };
      if (error instanceof Unreachable && error.status) return { error: errorJson(error.status) };
      throw error;
    }
  }

  private async watchError(afterRevision: bigint): Promise<Json> {
    const watch = this.client.watch({ afterRevision });
    try {
      for await (const _event of watch) return { response: 'no error' };
    } catch (error) {
      if (error instanceof ResyncRequired) {
        return { error: error.status ? errorJson(error.status) : { code: '', reason: error.reason } };
      }
      if (error instanceof ServerRefused) return { error: errorJson(error.status) };
      throw error;
    } finally {
      watch.cancel();
    }
    return { response: 'no error' };
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: {
    target: { type: 'string' }, scenario: { type: 'string' }, token: { type: 'string' },
  } });
  if (!values.target || !values.scenario) {
    process.stderr.write('usage: runner --target HOST:PORT --scenario FILE [--token TOKEN]\n');
    return 2;
  }
  const scenario = JSON.parse(readFileSync(values.scenario, 'utf8')) as Scenario;
  const client = new ExecstreamClient({ target: values.target, token: values.token ?? '' });
  try {
    emit({ result: await new Runner(client, scenario).run() });
    return 0;
  } catch (error) {
    emit({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    return 1;
  }
}

process.exitCode = await main();
process.exit();
