// The conformance runner for the TypeScript client: plays tests/conformance/scenario.json
// through ExecstreamClient. The protocol (arguments, JSON lines on stdout, the restart
// handshake) is in tests/conformance/README.md. Everything the scenario checks goes through
// the client library: the reporter numbers and commits, the watches resume, errors come decoded.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type DescMessage, type JsonValue, type MessageShape, fromJson, toJson }
  from '@bufbuild/protobuf';
import {
  type ExecutionEvent, ExecutionEventSchema, ExecstreamClient, type Reporter,
  ReportProgressResponseSchema, ResyncRequired, ServerRefused, SnapshotSchema,
  type StatusDetails, type Watch,
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
  };
}

/** One background watch: what it delivered, and a wake-up for whoever waits on it. */
class WatchState {
  readonly events: JsonValue[] = [];
  private failure: unknown = null;
  private ended = false;
  private wake: () => void = () => {};
  private readonly consuming: Promise<void>;

  constructor(readonly watch: Watch) {
    this.consuming = this.consume();
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

  async waitFor(count: number): Promise<void> {
    while (this.events.length < count) {
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
  private readonly watches = new Map<string, WatchState>();
  private readonly lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  readonly result = {
    watches: {} as Json, snapshots: {} as Json, sends: {} as Json, watch_errors: {} as Json,
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
          await Promise.race([this.play(step), late]);
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

  private async play(step: Step): Promise<void> {
    switch (step.op) {
      case 'watch': {
        const afterRevision = step.after_revision === undefined ? undefined
          : BigInt(step.after_revision);
        const state = new WatchState(this.client.watch({ afterRevision }));
        this.watches.set(step.name ?? '', state);
        await state.started();
        return;
      }
      case 'report':
        return await this.report(step.task_id ?? '', step.events ?? []);
      case 'await_events':
        return await this.state(step.watch).waitFor(step.count ?? 0);
      case 'collect': {
        const state = this.state(step.watch);
        await state.waitFor(step.count ?? 0);
        this.watches.delete(step.watch ?? '');
        this.result.watches[step.watch ?? ''] = await state.stop();
        return;
      }
      case 'restart': {
        emit({ step: 'await_restart' });
        const line = await this.lines.next();
        if (line.done || line.value.trim() !== 'restarted') {
          throw new Error(`expected 'restarted' on stdin, got ${JSON.stringify(line.value)}`);
        }
        return;
      }
      case 'snapshot': {
        const snapshot = await this.client.snapshot({ taskIds: step.task_ids ?? [] });
        this.result.snapshots[step.name ?? ''] = json(SnapshotSchema, snapshot);
        return;
      }
      case 'send':
        this.result.sends[step.name ?? ''] = await this.send(step.events ?? []);
        return;
      case 'watch_error':
        this.result.watch_errors[step.name ?? ''] =
          await this.watchError(BigInt(step.after_revision ?? 0));
        return;
      default:
        throw new Error(`unknown op ${step.op}`);
    }
  }

  private async report(taskId: string, events: Json[]): Promise<void> {
    this.reporter ??= this.client.reporter(this.scenario.sidecar_id);
    const task = this.reporter.task(taskId);
    for (const raw of events) task.raw(parseEvent(raw));
    await this.reporter.flush();
  }

  private async send(events: Json[]): Promise<Json> {
    try {
      const response = await this.client.report(this.scenario.sidecar_id, events.map(parseEvent));
      return { response: json(ReportProgressResponseSchema, response) };
    } catch (error) {
      if (error instanceof ServerRefused) return { error: errorJson(error.status) };
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
