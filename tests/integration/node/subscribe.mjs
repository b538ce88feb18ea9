// subscribe.mjs: the mailbox as resources, as the official MCP TypeScript SDK client (1.32.2)
// sees it. Over stdio and over Streamable HTTP (where notifications come on the GET stream the
// SDK opens after initialize), an agent lists and reads its resources, subscribes to
// mailbox://inbox, and must receive notifications/resources/updated (and list_changed) when
// another agent's mail reaches it; reading the inbox then shows the new message.
//
// Usage: AGENTRELAY_BIN=build/agentrelay node subscribe.mjs
// Exits 0 when every check passed; otherwise prints the failed step and exits 1.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
    ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema
} from '@modelcontextprotocol/sdk/types.js';

import { check, freshDataDir, log, newAgent, run, startServe, state, uniqueSubject } from './lib.mjs';

const INBOX = 'mailbox://inbox';

// Sends mail from `sender` to `to` over REST.
async function sendMail(base, sender, to, subject) {
    const res = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${sender.api_key}` },
        body: JSON.stringify({ to: [to], subject, text: 'for the subscriber' })
    });
    check(res.status === 202, `POST /v1/messages answered ${res.status}`);
}

async function exercise(client, label, agent, sender, base) {
    client.label = label;
    state.step = `${label}: capabilities`;
    const caps = client.getServerCapabilities();
    check(caps?.resources?.subscribe === true && caps?.resources?.listChanged === true,
        `resources capability is ${JSON.stringify(caps?.resources)}`);

    state.step = `${label}: resources/list and templates`;
    const { resources } = await client.listResources();
    check(resources.some(r => r.uri === INBOX), `resources/list has no ${INBOX}: ${JSON.stringify(resources)}`);
    const { resourceTemplates } = await client.listResourceTemplates();
    check(resourceTemplates.some(t => t.uriTemplate === 'mailbox://inbox/{id}'), 'no mailbox://inbox/{id} template');

    state.step = `${label}: subscribe`;
    const updated = [];
    let listChanged = 0;
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, n => updated.push(n.params.uri));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => listChanged++);
    await client.subscribeResource({ uri: INBOX });

    state.step = `${label}: a notification when mail arrives`;
    const subject = uniqueSubject(`subscribe ${label}`);
    await sendMail(base, sender, agent.address, subject);
    const deadline = Date.now() + 20000;
    while (!(updated.includes(INBOX) && listChanged > 0) && Date.now() < deadline)
        await new Promise(r => setTimeout(r, 20));
    check(updated.includes(INBOX), `no notifications/resources/updated for ${INBOX} (got ${JSON.stringify(updated)})`);
    check(listChanged > 0, 'no notifications/resources/list_changed');

    state.step = `${label}: resources/read`;
    const inbox = await client.readResource({ uri: INBOX });
    const listed = JSON.parse(inbox.contents[0].text);
    const mail = listed.messages.find(m => m.subject === subject);
    check(mail, `the inbox resource does not show "${subject}"`);
    const one = await client.readResource({ uri: `mailbox://inbox/${mail.id}` });
    check(one.contents[0].mimeType === 'application/json', 'a message resource is not application/json');
    check(JSON.parse(one.contents[0].text).subject === subject, 'the message resource has another subject');

    state.step = `${label}: an unknown resource`;
    let threw = null;
    try {
        await client.readResource({ uri: 'mailbox://inbox/no-such-message' });
    } catch (e) {
        threw = e;
    }
    check(threw && /-32002|not found/i.test(`${threw.code} ${threw.message}`), `reading a missing message gave ${threw}`);

    state.step = `${label}: unsubscribe`;
    await client.unsubscribeResource({ uri: INBOX });
    log('subscribe', `${label}: passed`);
}

await run('subscribe', async () => {
    const dataDir = freshDataDir();
    const sender = newAgent(dataDir, 'sub-sender-');
    const viaStdio = newAgent(dataDir, 'sub-stdio-');
    const viaHttp = newAgent(dataDir, 'sub-http-');
    const url = await startServe(dataDir);
    const base = url.replace(/\/mcp$/, '');

    state.step = 'stdio: connect';
    const stdio = new Client({ name: 'agentrelay-subscribe', version: '1.0.0' });
    const stdioTransport = new StdioClientTransport({
        command: process.env.AGENTRELAY_BIN,
        args: ['mcp', '--data', dataDir],
        env: { ...getDefaultEnvironment(), AGENTRELAY_API_KEY: viaStdio.api_key },
        stderr: 'pipe'
    });
    await stdio.connect(stdioTransport);
    state.cleanups.push(() => stdio.close());
    await exercise(stdio, 'stdio', viaStdio, sender, base);

    state.step = 'http: connect';
    const http = new Client({ name: 'agentrelay-subscribe', version: '1.0.0' });
    const httpTransport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${viaHttp.api_key}` } }
    });
    await http.connect(httpTransport);
    state.cleanups.push(() => http.close());
    await exercise(http, 'http', viaHttp, sender, base);
    log('subscribe', 'all checks passed');
});
