// lib.mjs: the set-up both conformance scripts share: a data dir with two agents, an
// `agentrelay serve --http` on a free loopback port, polling with a deadline, and a runner that
// reports the failed step with the server's stderr and always cleans up.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TOOLS = ['check_status', 'list_bounces', 'list_events', 'list_messages', 'read_message', 'send_email', 'wait_for_message'];
export const DOMAIN = 'agents.test';

// Run state: the step being checked, what to undo at the end, and server logs to show on failure.
export const state = { step: 'start', cleanups: [], serverLogs: [] };

export function fail(message) {
    throw new Error(message);
}

export function check(condition, message) {
    if (!condition) fail(message);
}

export function log(prefix, message) {
    process.stderr.write(`${prefix}: ${message}\n`);
}

export function agentrelay(args) {
    return execFileSync(process.env.AGENTRELAY_BIN, args, { encoding: 'utf8', timeout: 60000 });
}

export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

// Polls until fn() resolves truthy, or fails at the deadline.
export async function waitFor(fn, what, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e;
        }
        await new Promise(r => setTimeout(r, 50));
    }
    fail(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

// Starts `agentrelay serve --http 127.0.0.1:PORT` on dataDir; returns the MCP endpoint's URL.
export async function startServe(dataDir) {
    const port = await freePort();
    const child = spawn(process.env.AGENTRELAY_BIN, ['serve', '--data', dataDir, '--http', `127.0.0.1:${port}`], {
        stdio: ['ignore', 'ignore', 'pipe']
    });
    let stderr = '';
    child.stderr.on('data', d => (stderr += d));
    state.serverLogs.push(() => `agentrelay serve stderr:\n${stderr}`);
    state.cleanups.push(() => child.kill('SIGTERM'));
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
        if (child.exitCode !== null) fail(`agentrelay serve exited ${child.exitCode}: ${stderr}`);
        return (await fetch(`${base}/healthz`)).ok;
    }, 'agentrelay serve to answer /healthz');
    return `${base}/mcp`;
}

export function newAgent(dataDir, prefix) {
    const name = `${prefix}${Math.random().toString(36).slice(2, 8)}`;
    const agent = JSON.parse(agentrelay(['agent', 'create', name, '--data', dataDir]));
    check(agent.api_key && agent.address, `agent create printed ${JSON.stringify(agent)}`);
    return agent;
}

// A fresh data dir (removed at the end), initialised for DOMAIN.
export function freshDataDir() {
    const dataDir = mkdtempSync(join(tmpdir(), 'agentrelay-conformance-'));
    state.cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    agentrelay(['init', '--data', dataDir, '--domain', DOMAIN]);
    return dataDir;
}

// A unique subject, so concurrent or repeated runs never match each other's mail.
export function uniqueSubject(label) {
    return `conformance ${label} ${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

// Taps a client transport before connect: records every JSON-RPC message it sends and receives
// (tap.wire, in order), for the checks the client API hides (resultType, ttlMs, _meta), and
// lets a check alter the next incoming result (tap.alterNext) to prove the client validates it.
export function tapTransport(transport) {
    const tap = { wire: [], alterNext: null };
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
        tap.wire.push({ dir: 'out', message });
        return send(message, options);
    };
    let handler;
    Object.defineProperty(transport, 'onmessage', {
        configurable: true,
        get: () => handler,
        set: fn => {
            handler = fn && ((message, extra) => {
                if (tap.alterNext && message.result !== undefined) {
                    message = tap.alterNext(message);
                    tap.alterNext = null;
                }
                tap.wire.push({ dir: 'in', message });
                return fn(message, extra);
            });
        }
    });
    return tap;
}

// Proves the client checks structuredContent against the tool's outputSchema: a list_bounces
// result altered to break its schema (a property it does not allow) must be refused. Without
// this, every other check could pass with the validation silently off.
export async function checkOutputValidation(client, tap) {
    state.step = `${client.label}: the client validates structuredContent`;
    tap.alterNext = message => {
        message.result.structuredContent.not_in_the_schema = true;
        return message;
    };
    let threw = null;
    try {
        await client.callTool({ name: 'list_bounces', arguments: {} });
    } catch (e) {
        threw = e;
    } finally {
        tap.alterNext = null;
    }
    check(threw && /output ?schema/i.test(threw.message),
        `a structuredContent that breaks the outputSchema was accepted (${threw})`);
}

async function cleanup() {
    for (const fn of state.cleanups.reverse()) {
        try {
            await fn();
        } catch {
            // best effort: the verdict is already made
        }
    }
}

// Runs main(); exits 0 when it resolves, else prints the failed step and server logs, exits 1.
export async function run(prefix, main) {
    try {
        check(process.env.AGENTRELAY_BIN, 'set AGENTRELAY_BIN to the agentrelay binary');
        await main();
        await cleanup();
        process.exit(0);
    } catch (e) {
        log(prefix, `FAIL at ${state.step}: ${e?.stack ?? e}`);
        for (const text of state.serverLogs) process.stderr.write(`${text().slice(-4000)}\n`);
        await cleanup();
        process.exit(1);
    }
}
