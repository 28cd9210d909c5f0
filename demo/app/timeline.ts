// "What happened": the story of each request and step-up, kept in sessionStorage so that it
// survives the trip to the OP and back in redirect mode.

export type EventKind = 'request' | 'challenge' | 'step' | 'success' | 'error' | 'warning' | 'info'

export interface TimelineEvent {
  kind: EventKind
  title: string
  /** Plain text under the title. */
  detail?: string
  /** Monospace text (a header, a URL's parameters). */
  code?: string
  /** A StepUpError's code, for error and warning events. */
  errorCode?: string
  at: number
}

const KEY = 'demo:timeline'
const LIMIT = 80

export function loadEvents(): TimelineEvent[] {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem(KEY) ?? '[]')
    return Array.isArray(parsed) ? (parsed as TimelineEvent[]) : []
  } catch {
    return []
  }
}

export function saveEvents(events: TimelineEvent[]): void {
  sessionStorage.setItem(KEY, JSON.stringify(events.slice(-LIMIT)))
}

/** Add an event to the stored timeline (for pages that do not render it, like the callback page). */
export function recordEvent(event: Omit<TimelineEvent, 'at'>): void {
  saveEvents([...loadEvents(), { ...event, at: Date.now() }])
}
