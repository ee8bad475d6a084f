/**
 * Render in animation frames: callers mark work dirty as data arrives (possibly thousands
 * of events a second); the work runs at most once per frame, so the page stays responsive.
 */

type Job = () => void;

export class FrameScheduler {
  private readonly jobs = new Set<Job>();
  private requested = false;

  /** Run `job` in the next frame (once, however often it is scheduled before then). */
  schedule(job: Job): void {
    this.jobs.add(job);
    if (this.requested) return;
    this.requested = true;
    const run = (): void => this.flush();
    // Hidden tabs get no frames: fall back to a timer so state never piles up.
    if (document.hidden) setTimeout(run, 250);
    else requestAnimationFrame(run);
  }

  private flush(): void {
    this.requested = false;
    const jobs = [...this.jobs];
    this.jobs.clear();
    for (const job of jobs) job();
  }
}
