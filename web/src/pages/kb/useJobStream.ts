import { useCallback, useEffect, useRef, useState } from 'react';
import { send } from '../../lib/api';
import { jobFinished, type Job } from './kbTypes';

export interface JobStream {
  /** The newest known state of every job seen on the stream (or merged in from an API answer). */
  jobs: Record<string, Job>;
  /** True once the stream has sent its snapshot and is still open. */
  connected: boolean;
  merge: (job: Job) => void;
}

const newer = (a: Job | undefined, b: Job) => !a || b.updatedAt >= a.updatedAt;

/**
 * ONE EventSource per page on /api/jobs/events. The browser reconnects by itself after a dropped
 * stream; a refused one (401: the access cookie expired) stays closed, so that case refreshes the
 * session through `send` and reopens with a growing delay.
 */
export function useJobStream(onFinished?: (job: Job) => void): JobStream {
  const [jobs, setJobs] = useState<Record<string, Job>>({});
  const [connected, setConnected] = useState(false);
  const finishedRef = useRef(onFinished);
  useEffect(() => {
    finishedRef.current = onFinished;
  }, [onFinished]);

  const merge = useCallback((job: Job) => {
    setJobs((prev) => (newer(prev[job.id], job) ? { ...prev, [job.id]: job } : prev));
  }, []);

  useEffect(() => {
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let failures = 0;

    const open = () => {
      if (stopped) return;
      const es = new EventSource('/api/jobs/events', { withCredentials: true });
      source = es;
      es.addEventListener('job', (e) => {
        let job: Job;
        try {
          job = JSON.parse((e as MessageEvent<string>).data) as Job;
        } catch {
          return;
        }
        merge(job);
        if (jobFinished(job)) finishedRef.current?.(job);
      });
      es.addEventListener('ready', () => {
        failures = 0;
        setConnected(true);
      });
      es.onerror = () => {
        setConnected(false);
        if (es.readyState !== EventSource.CLOSED || stopped) return;
        es.close();
        failures += 1;
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
        timer = setTimeout(() => {
          // A cheap authenticated call: refreshes an expired access cookie (or signs the person out).
          void send('/api/auth/me')
            .catch(() => undefined)
            .finally(open);
        }, delay);
      };
    };
    open();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      source?.close();
    };
  }, [merge]);

  return { jobs, connected, merge };
}
