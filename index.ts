/**
 * The ses-mail Pulumi program: read and validate the stack's `ses-mail:` config, build every stage of
 * the pipeline with its handler, export what an operator needs (DNS records to publish, names, URLs).
 *
 * `pulumi up` runs it with the CLI; `ses-mail synth` runs it offline under runtime mocks.
 */
import { SesMail } from "./components/ses-mail";
import { readPulumiStackConfig } from "./config/pulumi";
import { bouncerEnvironmentVariables, bouncerFactory } from "./handlers/bouncer";
import {
  CREDENTIAL_MANAGER_EVENT_FILTER,
  credentialManagerEnvironmentVariables,
  credentialManagerFactory,
} from "./handlers/credential-manager";
import { gmailForwarderEnvironmentVariables, gmailForwarderFactory } from "./handlers/gmail-forwarder";
import { routerEnvironmentVariables, routerFactory } from "./handlers/router";

const config = readPulumiStackConfig();

const sesMail = new SesMail("ses-mail", {
  config,
  handlers: {
    router: { factory: routerFactory, environmentVariables: routerEnvironmentVariables },
    gmailForwarder: { factory: gmailForwarderFactory, environmentVariables: gmailForwarderEnvironmentVariables },
    bouncer: { factory: bouncerFactory, environmentVariables: bouncerEnvironmentVariables },
    credentialManager: { factory: credentialManagerFactory, environmentVariables: credentialManagerEnvironmentVariables },
  },
  credentialStreamFilter: CREDENTIAL_MANAGER_EVENT_FILTER,
});

export const bucketName = sesMail.outputs.bucketName;
export const routingTableName = sesMail.outputs.routingTableName;
export const eventBusName = sesMail.outputs.eventBusName;
export const inputQueueUrl = sesMail.outputs.inputQueueUrl;
export const retryQueueUrl = sesMail.outputs.retryQueueUrl;
export const receiptRuleSetName = sesMail.outputs.receiptRuleSetName;
/** Publish these at your DNS provider: MX to receive, the DKIM CNAMEs to verify each domain. */
export const dnsRecords = sesMail.outputs.dnsRecords;
export const alarmTopicArn = sesMail.outputs.alarmTopicArn;
export const dashboardUrl = sesMail.outputs.dashboardUrl;
export const myApplicationsUrl = sesMail.outputs.myApplicationsUrl;
export const retryProcessorArn = sesMail.outputs.retryProcessorArn;
export const smtpCredentialsKeyArn = sesMail.outputs.smtpCredentialsKeyArn;
export const functions = sesMail.outputs.functions;
