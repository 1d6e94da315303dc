import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from './logger';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Outgoing mail over SMTP_URL (nodemailer). Without SMTP the product falls back to admin-shown links. */
export class Mailer {
  private readonly transport?: Transporter;

  constructor(
    url: string | undefined,
    private readonly from: string,
    private readonly logger: Logger,
  ) {
    if (url) this.transport = nodemailer.createTransport(url);
  }

  get enabled(): boolean {
    return Boolean(this.transport);
  }

  async send(message: MailMessage): Promise<void> {
    if (!this.transport) throw new Error('SMTP is not configured');
    await this.transport.sendMail({ from: this.from, ...message });
    // The address is personal data and the body holds a secret link: log neither.
    this.logger.info('mail.sent', { subject: message.subject });
  }

  close(): void {
    this.transport?.close();
  }
}
